"""Meta's wire: the Cloud API client, message bodies, webhook parsing and signatures, categories and windows, pricing, phone numbers."""
