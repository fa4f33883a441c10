"""Rehearsals: a customer's message as Meta's webhook carries it, the app's loops run by hand, sends read back."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.devtools.rehearsal import customer_message, customer_webhook, run_until_idle
from bot.whatsapp.webhook_parser import parse_payload

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


def test_a_customer_webhook_parses_as_the_message_it_carries() -> None:
    """The webhook reads back as one message from the contact, at the clock's time, with the content given."""
    message = customer_message("interactive", {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}})
    parsed = parse_payload(customer_webhook(message, wa_id="31612345678", name="Ana", wamid="wamid.1", now=NOW))
    [inbound] = parsed.messages
    assert (inbound.wamid, inbound.wa_id, inbound.profile_name) == ("wamid.1", "31612345678", "Ana")
    assert (inbound.timestamp, inbound.type, inbound.reply_id) == (NOW, "interactive", "yes")


def test_a_customer_without_a_name_has_no_profile() -> None:
    """A nameless contact is listed by wa_id alone, as Meta lists one whose profile has no name."""
    payload = customer_webhook(customer_message("text", {"body": "hi"}), wa_id="1555", name=None, wamid="w", now=NOW)
    [inbound] = parse_payload(payload).messages
    assert (inbound.text, inbound.profile_name) == ("hi", None)
    assert payload["entry"][0]["changes"][0]["value"]["contacts"] == [{"wa_id": "1555"}]


async def test_run_until_idle_stops_at_the_first_idle_round_or_the_limit() -> None:
    """Rounds run until one does nothing; a loop that never idles stops after the given number of rounds."""
    work = [3, 1, 0, 5]
    calls: list[int] = []

    async def run_once() -> int:
        calls.append(len(calls))
        return work[len(calls) - 1]

    await run_until_idle(run_once, 10)
    assert len(calls) == 3

    async def busy() -> int:
        calls.append(0)
        return 1

    calls.clear()
    await run_until_idle(busy, 4)
    assert len(calls) == 4
