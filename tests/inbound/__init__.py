"""What customers send."""
