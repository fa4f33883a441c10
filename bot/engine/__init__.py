"""The flow engine: its pure core, flow files and their checks, expressions, answer validators, graphs."""
