"""Tools for the people who write flows and templates: chat, transcripts, rehearsal and the demo data."""
