"""Cron and recurring runs."""
