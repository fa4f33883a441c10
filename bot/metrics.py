"""Prometheus metrics, in a registry per app (no global state); phone numbers are never labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """The service's counters and gauges; `render()` gives the text format `/metrics` serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhooks = Counter(
            "bot_webhooks_received", "Webhook POSTs by outcome", ["outcome"], registry=self.registry
        )
        self.inbound = Counter("bot_inbound_messages", "Inbound messages stored (new)", registry=self.registry)
        self.webhook_unreadable = Counter(
            "bot_webhook_unreadable_items",
            "Entries, changes and items of stored webhooks that could not be read, kept as notices",
            registry=self.registry,
        )
        self.sent = Counter(
            "bot_messages_sent", "Messages Meta accepted, by category", ["category"], registry=self.registry
        )
        self.failed = Counter(
            "bot_messages_failed",
            "Messages that failed, by category and reason",
            ["category", "reason"],
            registry=self.registry,
        )
        self.retried = Counter(
            "bot_send_retries", "Sends put back for a retry, by reason", ["reason"], registry=self.registry
        )
        self.held = Counter(
            "bot_sends_held",
            "Sends put back unsent for later (quiet_hours, messaging_limit), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "bot_sends_dropped",
            "Messages settled unsent (not_wanted, undeliverable, template_blocked), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.turns = Counter("bot_turns", "Inbound messages handled by the dispatcher", registry=self.registry)
        self.media = Counter(
            "bot_media_fetches",
            "Fetches of customers' files by outcome: stored, retry, refused, failed",
            ["outcome"],
            registry=self.registry,
        )
        self.abandoned = Counter(
            "bot_turns_abandoned",
            "Inbound messages given up on after every turn on them raised (each also logged as turn.abandoned)",
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "bot_outbox_depth",
            "Outbox rows waiting or in flight, by kind and status",
            ["kind", "status"],
            registry=self.registry,
        )
        self.webhook_seconds = Histogram(
            "bot_webhook_seconds",
            "Time to store and acknowledge a webhook",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

        # Known label values start at zero, so a rate() over a fresh process has a series to read.
        # The webhook's outcomes, labelled once: `labels()` costs a lock and a lookup on every request.
        self.webhook_outcome = {
            outcome: self.webhooks.labels(outcome=outcome)
            for outcome in ("stored", "bad_signature", "malformed", "unavailable")
        }
        for category in ("service", "utility", "authentication", "marketing"):
            self.sent.labels(category=category)

    def set_outbox_depth(self, depth: dict[str, int]) -> None:
        self.outbox_depth.clear()
        for key, value in depth.items():
            kind, _, status = key.partition(":")
            self.outbox_depth.labels(kind=kind, status=status).set(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
