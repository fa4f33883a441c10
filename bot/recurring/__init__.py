"""Things that happen again: cron expressions in a time zone, and the loop that runs due rows once."""
