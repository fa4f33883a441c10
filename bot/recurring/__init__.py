"""Things that happen again: cron expressions in a time zone, and the loop shared by recurring schedules and campaigns."""
