"""The whole service end to end, on real ports."""
