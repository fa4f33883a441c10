"""Tools for flow and template authors."""
