"""What the dashboard says about stored rows: message contents, failure reasons, the window, transcript order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.dashboard.view import Place, content, entries, given, given_media_ids, reason, window
from bot.message_templates.library import TemplateLibrary, to_cloud_api
from bot.whatsapp.message_body import (
    buttons_message,
    cta_url_message,
    list_message,
    location_request_message,
    media_message,
    template_message,
    text_message,
)
from storage.models import ConversationBase, MediaBase, MessageBase, OutboxBase
from storage.outbox import redacted_payload
from storage.timeline import Timeline

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
TO = "31612345678"


def test_contents_of_each_kind_of_message_read_plainly() -> None:
    """Texts as written, buttons and list rows listed, templates by name with their values, media by kind."""
    assert content(text_message(TO, "Hi <b>there</b>"))[:2] == ("Hi <b>there</b>", None)
    assert content(buttons_message(TO, "Pick one", [("a", "Track"), ("b", "Book")]))[:2] == (
        "Pick one",
        "Buttons: Track · Book",
    )
    rows = [("Tuesday", [("t1", "09:30", "morning"), ("t2", "14:00", "afternoon")])]
    assert content(list_message(TO, "When?", "See times", rows))[:2] == ("When?", "List (See times): 09:30 · 14:00")
    sent = template_message(TO, "order_delivered", "en", body_params={"order_number": "10482"})
    assert content(sent)[:2] == ("Template order_delivered (en) with order_number=10482", None)
    assert content({"type": "image", "image": {"id": "1", "caption": "receipt"}})[:2] == ("[image] receipt", None)


def test_a_queued_code_is_never_shown() -> None:
    """An authentication template waiting in the outbox shows its name but not the code it carries."""
    code = template_message(TO, "login_code", "en", body_params={"code": "493817"})
    text, _ = content(code, secret=True)[:2]
    assert "493817" not in text
    assert text == "Template login_code (en) (the code is hidden)"
    assert "493817" not in content(redacted_payload(code))[0]


def test_a_template_reads_as_the_customer_read_it() -> None:
    """With the templates at hand, a send shows header, filled-in body, footer and button titles; a code shows dots."""
    library = TemplateLibrary.load(ROOT / "templates")
    values = {"customer_name": "Carla", "discount": "20%", "promo_code": "SPRING20", "expiry_date": "31 December"}
    shown = content(to_cloud_api(library.get("promotion_code", "en"), TO, values), library)
    assert shown.header == "A thank-you from us"
    assert shown.text.startswith(
        "Hi Carla, thanks for shopping with us. Enjoy 20% off your next order with code SPRING20"
    )
    assert shown.footer == "Not interested? Tap Stop promotions"
    assert shown.detail == "Template promotion_code (en) · Buttons: Shop now · Stop promotions"
    code = to_cloud_api(library.get("login_code", "en"), TO, {"code": "493817"})
    for stored in (code, redacted_payload(code)):
        shown = content(stored, library, secret=True)
        assert shown.text == "•••••• is your verification code. For your security, do not share this code."
        assert shown.footer == "This code expires in 10 minutes."
        assert "493817" not in repr(shown)


def test_reasons_come_from_metas_error_or_the_senders_record() -> None:
    """A failed status's first error with its details, or the sender's code and message; nothing when no error."""
    meta = {"errors": [{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24h passed"}}]}
    assert reason(meta) == "error 131047: Re-engagement message (24h passed)"
    assert reason({"code": "opted_out", "message": "the contact opted out of marketing"}) == (
        "the contact opted out of marketing"
    )
    assert reason({"code": "template", "error_code": 132015, "message": "Template paused"}) == (
        "error 132015: Template paused"
    )
    assert reason(None) is None


def test_the_window_is_open_for_24_hours_after_the_customer_wrote() -> None:
    """Open until a day after the last message; closed after; never opened when the customer never wrote."""
    assert window(NOW, NOW + timedelta(hours=23)).open
    closed = window(NOW, NOW + timedelta(hours=25))
    assert (closed.open, closed.closes_at) == (False, NOW + timedelta(hours=24))
    assert window(None, NOW).closes_at is None


def test_a_transcript_is_in_time_order_with_openings_before_their_messages() -> None:
    """Conversation openings, messages in and out, and unsent rows are merged by time."""
    incoming = MessageBase(wamid="w1", direction="in", contact_id=1, type="text", text="hi", created_at=NOW)
    later = NOW + timedelta(minutes=1)
    outgoing = MessageBase(
        wamid="w2", direction="out", contact_id=1, type="text", body=text_message(TO, "hello"), category="service",
        status="delivered", created_at=later,
    )  # fmt: skip
    opened = ConversationBase(
        contact_id=1, category="service", origin="user_initiated", opened_at=later, expires_at=later
    )
    unsent = OutboxBase(
        kind="marketing", contact_id=1, recipient=TO, payload=template_message(TO, "promo", "en"),
        template_category="marketing", status="cancelled", created_at=NOW + timedelta(minutes=2),
        last_error={"code": "no_consent", "message": "the contact never opted in to marketing"},
    )  # fmt: skip
    found = entries(Timeline([incoming, outgoing], [opened], [unsent]))
    assert [(e.kind, e.text) for e in found] == [
        ("in", "hi"),
        ("conversation", "Service conversation opened, started by the customer"),
        ("out", "hello"),
        ("unsent", "Template promo (en)"),
    ]
    assert (found[2].status_words, found[3].status_words) == ("delivered", "not sent")
    assert found[3].reason == "the contact never opted in to marketing"


def test_a_file_the_bot_sent_shows_its_kind_caption_and_name_or_link() -> None:
    """A document shows its caption and its file name; a file by link shows the URL Meta fetches it from."""
    document = media_message(TO, "document", media_id="9", caption="Your form", filename="returns-form.pdf")
    assert content(document)[:2] == ("[document] Your form", "File: returns-form.pdf")
    assert content(media_message(TO, "image", link="https://x.example/a.png"))[:2] == (
        "[image]",
        "File: https://x.example/a.png",
    )


def test_given_lists_the_files_and_places_a_flow_kept_in_its_slots() -> None:
    """Slots holding a media row or a place are shown in the handoff, in the flow's order; other slots are not."""
    row = MediaBase(id=4, message_id=1, contact_id=1, kind="image", status="stored", mime_type="image/png")
    slots = {
        "order_number": "10477",
        "damage_photo": {"media": 4, "kind": "image"},
        "pickup_location": {"latitude": 52.1, "longitude": 4.3, "name": "Home"},
        "lost": {"media": 99, "kind": "image"},
    }
    assert given_media_ids(slots) == [4, 99]
    found = given(slots, {4: row})
    assert [(g.label, g.media is not None, g.place) for g in found] == [
        ("Damage photo", True, None),
        ("Pickup location", False, Place(52.1, 4.3, "Home", None)),
    ]
    assert found[0].media is not None
    assert found[0].media.inline


def test_sent_file_and_place_headers_and_interactive_messages_read_plainly() -> None:
    """A template's document header is a link, its place a map; a link button and a location request say so."""
    library = TemplateLibrary.load(ROOT / "templates")
    invoice = {"customer_name": "Ana", "order_number": "7", "total": "€9", "invoice_url": "https://s.example.com/7.pdf"}
    place = {"customer_name": "Ana", "order_number": "7", "store_name": "Centrum", "store_address": "Dam 1"}
    sends = [
        to_cloud_api(library.get("order_invoice", "en"), TO, invoice),
        to_cloud_api(library.get("pickup_ready", "en"), TO, place | {"latitude": "52.37", "longitude": "4.89"}),
        cta_url_message(TO, "Track it", "Track parcel", "https://track.example.com/PX1"),
        location_request_message(TO, "Where are you?"),
    ]
    messages = [
        MessageBase(wamid=f"w{i}", direction="out", contact_id=1, type=b["type"], body=b, created_at=NOW)
        for i, b in enumerate(sends)
    ]
    document, pickup, link, request = entries(Timeline(messages, [], []), library)
    assert document.sent_file is not None
    assert (document.sent_file.link, document.sent_file.filename) == ("https://s.example.com/7.pdf", "Invoice 7.pdf")
    assert pickup.location is not None
    assert (pickup.location.name, pickup.location.latitude) == ("Centrum", 52.37)
    assert (link.text, link.detail) == ("Track it", "Link button: Track parcel → https://track.example.com/PX1")
    assert (request.text, request.detail) == ("Where are you?", "Asks for the customer's location")
