"""Tests of bot.privacy: erasure and retention."""
