"""The built-in sandbox that plays Meta: a fake Graph API, a customer simulator and the chat page."""
