"""Utility notifications."""
