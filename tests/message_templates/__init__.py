"""Message templates."""
