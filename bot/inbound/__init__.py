"""What customers send: the webhook, durable ingest, the dispatcher and the turn handlers (keywords, live content, flows), handoff."""
