"""Utility notifications: orders, appointments and balances, their rules, and recurring schedules."""
