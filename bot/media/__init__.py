"""Inbound media: the store that keeps the files, and the background loop that fetches them from Meta."""
