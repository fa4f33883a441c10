"""Security claims and fuzzing."""
