"""Marketing campaigns: reading a campaign, its audience, and running it."""
