"""The sandbox that plays Meta."""
