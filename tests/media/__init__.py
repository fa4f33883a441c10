"""Specifications of bot/media: the media store and the fetcher."""
