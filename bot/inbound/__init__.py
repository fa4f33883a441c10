"""What customers send: the webhook, ingest, the dispatcher and its turn handlers, and handoff to a person."""
