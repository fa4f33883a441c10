"""Meta's wire."""
