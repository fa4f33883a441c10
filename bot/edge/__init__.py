"""The HTTP edge: what every door does before a handler runs, such as reading strangers' bodies within limits."""
