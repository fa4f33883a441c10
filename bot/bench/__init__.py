"""Benchmarks: `bot bench ...`, the processes they measure and the Graph API stand-in they send to."""
