"""Faults and crashes with real processes."""
