"""A template send shown as the phone shows it: the stored template filled in with the values the send carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.message_templates.display import display, display_json, display_text, sent_parameters
from bot.message_templates.library import TemplateLibrary, to_cloud_api
from bot.whatsapp.message_body import template_message

ROOT = Path(__file__).resolve().parents[2]
TO = "31612345678"


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary.load(ROOT / "templates")


def test_sent_parameters_read_back_named_and_positional_texts() -> None:
    """Named parameters come back by name, positional ones in order; `parts` keeps only the components named."""
    body = template_message(
        "31612345678",
        "code",
        "en",
        body_params=["482913"],
        button_params=[("url", 0, ["482913"]), ("quick_reply", 1, ["stop"])],
    )
    assert sent_parameters(body["template"]) == ({}, ["482913", "482913"])
    assert sent_parameters(body["template"], ("header", "body")) == ({}, ["482913"])
    named = template_message("31612345678", "hello", "en", header_params={"shop": "Store"}, body_params={"name": "Ana"})
    assert sent_parameters(named["template"]) == ({"shop": "Store", "name": "Ana"}, [])


def test_a_send_reads_back_filled_in_with_its_buttons_titled(library: TemplateLibrary) -> None:
    """Header, body, footer and button titles; the payload a send sets wins over the file's; unknown is None."""
    values = {"customer_name": "Carla Souza", "discount": "20%", "promo_code": "SPRING20", "expiry_date": "31 May"}
    sent = to_cloud_api(library.get("promotion_code", "en"), TO, values)["template"]
    shown = display(library, sent)
    assert shown is not None
    assert display_text(shown).startswith("A thank-you from us\n\nHi Carla Souza, thanks for shopping with us.")
    assert display_text(shown).endswith("Not interested? Tap Stop promotions\n\n[Shop now] [Stop promotions]")
    assert display_json(shown)["buttons"][0] == {"type": "quick_reply", "text": "Shop now", "payload": "SHOP_NOW"}
    sent["components"][-1]["parameters"][0]["payload"] = "CAMPAIGN_7_STOP"
    assert display_json(display(library, sent) or shown)["buttons"][1]["payload"] == "CAMPAIGN_7_STOP"
    assert display(library, {"name": "no_such_template", "language": {"code": "en"}}) is None
    assert display(library, {"name": "promotion_code"}) is None


def test_an_authentication_send_shows_metas_words_and_the_code_only_where_allowed(library: TemplateLibrary) -> None:
    """Meta's fixed body, security line, expiry footer and copy-code button; hidden as dots on business screens."""
    sent = to_cloud_api(library.get("login_code", "en"), TO, {"code": "482913"})["template"]
    shown = display(library, sent)
    assert shown is not None
    assert display_json(shown) == {
        "header": None,
        "body": "482913 is your verification code. For your security, do not share this code.",
        "footer": "This code expires in 10 minutes.",
        "buttons": [{"type": "copy_code", "text": "Copy code", "code": "482913"}],
    }
    hidden = display(library, sent, hide_code=True)
    assert hidden is not None
    assert "482913" not in repr(hidden)
    assert hidden.text.startswith("•••••• is your verification code.")


def test_a_file_or_place_header_reads_back_from_the_send_as_it_went(library: TemplateLibrary) -> None:
    """The phone shows the file or place the send carried, whatever its variables were; the text names it."""
    values = {"customer_name": "Ana", "order_number": "7", "total": "€9", "invoice_url": "https://s.example.com/7.pdf"}
    sent = to_cloud_api(library.get("order_invoice", "en"), TO, values)["template"]
    shown = display(library, sent)
    assert shown is not None
    assert shown.header_media is not None
    assert (shown.header_media.link, shown.header_media.filename) == ("https://s.example.com/7.pdf", "Invoice 7.pdf")
    assert display_text(shown).startswith("[Document: Invoice 7.pdf]\n\nThank you, Ana. Your order 7 for €9")
    assert display_json(shown)["header_media"]["kind"] == "document"
    place = {"customer_name": "Ana", "order_number": "7", "store_name": "Centrum", "store_address": "Dam 1"}
    sent = to_cloud_api(library.get("pickup_ready", "en"), TO, place | {"latitude": "52.37", "longitude": "4.89"})
    shown = display(library, sent["template"])
    assert shown is not None
    assert display_text(shown).startswith("[Location: Centrum, Dam 1]\n\nHi Ana, order 7")
