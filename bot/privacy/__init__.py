"""Privacy: erasing a contact on request, and purging webhook bodies, message texts and media files past their days."""
