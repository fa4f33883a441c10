"""Sending: the sender, the checks a message passes at send time, and each number's throughput."""
