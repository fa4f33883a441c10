"""The business dashboard."""
