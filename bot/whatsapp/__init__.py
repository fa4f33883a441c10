"""Meta's wire: the Cloud API client, message bodies, webhook parsing, categories, pricing, phone numbers."""
