"""Customers' files and the project's: the store, the loop that fetches inbound files, and uploads of files flows send."""
