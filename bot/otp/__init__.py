"""One-time authentication codes: the pure rules and the service that sends and checks them."""
