"""Files: customers' ones fetched from Meta and stored, and the project's uploaded for flows to send."""
