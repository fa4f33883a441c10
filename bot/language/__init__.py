"""The customer's language and clock: dates, times and amounts written for them, and the engine's own words."""
