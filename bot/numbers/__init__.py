"""The business numbers a deployment serves: numbers.yaml or the settings, and the book every process reads."""
