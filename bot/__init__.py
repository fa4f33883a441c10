"""A WhatsApp Business conversation service speaking Meta's Cloud API."""
