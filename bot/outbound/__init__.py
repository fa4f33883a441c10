"""Sending: the sender, the checks a message passes at send time, and the number's throughput."""
