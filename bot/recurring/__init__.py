"""Things that happen again: cron expressions in a time zone, and the run a due row makes now."""
