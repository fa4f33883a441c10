"""Specification of bot.whatsapp.message_body's `rendered_message`: a rendered template's value in, a send body out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.errors import LimitExceeded, ValidationError
from bot.whatsapp.message_body import (
    authentication_message,
    buttons_message,
    cta_url_message,
    flow_message,
    location_request_message,
    media_message,
    rendered_message,
    template_message,
    text_message,
)
from bot.whatsapp.rendered_template import HeaderMedia, Parameter, RenderedButton, RenderedTemplate

TO = "16505551234"
UTILITY = RenderedTemplate("order_ready", "en", "utility", "Order A-17 is ready, Ana.")


def test_named_parameters_become_the_template_components() -> None:
    """Header and body parameters keep their names, in order; shown texts stay out of the body, as Meta holds them."""
    rendered = replace(
        UTILITY,
        header="Order A-17",
        footer="Reply with any question",
        header_parameters=(Parameter("A-17", "order"),),
        body_parameters=(Parameter("A-17", "order"), Parameter("Ana", "name")),
    )
    assert rendered_message(TO, rendered) == template_message(
        TO, "order_ready", "en", header_params={"order": "A-17"}, body_params={"order": "A-17", "name": "Ana"}
    )


def test_template_without_parameters_has_no_components() -> None:
    """A rendered template with nothing to fill sends no components key, like Meta's hello_world."""
    assert "components" not in rendered_message(TO, UTILITY)["template"]


def test_buttons_send_payloads_and_url_suffixes_by_their_index() -> None:
    """A quick reply sends its payload, a URL button its suffix, each at its index; a bare quick reply sends nothing."""
    rendered = replace(
        UTILITY,
        buttons=(
            RenderedButton("quick_reply", "Thanks"),
            RenderedButton("quick_reply", "Stop promotions", "STOP_PROMOTIONS"),
            RenderedButton("url", "Track", url="https://track.example.com/PX1", parameters=("PX1",)),
        ),
    )
    assert rendered_message(TO, rendered) == template_message(
        TO, "order_ready", "en", button_params=[("quick_reply", 1, ["STOP_PROMOTIONS"]), ("url", 2, ["PX1"])]
    )


def test_copy_code_goes_as_meta_authentication_body() -> None:
    """A positional code and a copy-code button build exactly what `authentication_message` builds."""
    rendered = RenderedTemplate(
        "login_code",
        "en",
        "authentication",
        "482913 is your verification code.",
        footer="This code expires in 10 minutes.",
        buttons=(RenderedButton("copy_code", "Copy code", parameters=("482913",)),),
        body_parameters=(Parameter("482913"),),
    )
    assert rendered_message(TO, rendered) == authentication_message(TO, "login_code", "en", "482913")


def test_copy_code_longer_than_meta_allows_is_refused() -> None:
    """A code over 15 characters never reaches Meta, whichever way the body is built."""
    code = "1234567890123456"
    rendered = RenderedTemplate(
        "login_code",
        "en",
        "authentication",
        f"{code} is your verification code.",
        buttons=(RenderedButton("copy_code", "Copy code", parameters=(code,)),),
        body_parameters=(Parameter(code),),
    )
    with pytest.raises(LimitExceeded, match="authentication code is 16 characters; WhatsApp allows at most 15"):
        rendered_message(TO, rendered)


def test_service_reply_without_buttons_is_text() -> None:
    """A service template is an in-window reply: its shown text goes as a text message."""
    rendered = RenderedTemplate("marketing_stopped", "en", "service", "Done: no more promotions.")
    assert rendered_message(TO, rendered) == text_message(TO, "Done: no more promotions.")


def test_service_reply_with_buttons_is_interactive() -> None:
    """A service template's quick replies become reply buttons, identified by payload or else by title."""
    rendered = RenderedTemplate(
        "order_status",
        "en",
        "service",
        "Order 7 is packed.",
        header="Your order",
        footer="Example Store",
        buttons=(RenderedButton("quick_reply", "Talk to a person", "HANDOFF"), RenderedButton("quick_reply", "Thanks")),
    )
    assert rendered_message(TO, rendered) == buttons_message(
        TO,
        "Order 7 is packed.",
        [("HANDOFF", "Talk to a person"), ("Thanks", "Thanks")],
        header="Your order",
        footer="Example Store",
    )


def test_a_flow_message_is_meta_s_interactive_flow() -> None:
    """A WhatsApp Flow goes by name (or id) with version 3, its button, token, first screen and data."""
    body = flow_message(
        "31612345678", "How did we do?", cta="Rate us", token="feedback.abc", flow_name="feedback",
        screen="RATE", data={"name": "Ana"}, header="Your feedback", footer="Thanks",
    )  # fmt: skip
    assert body["interactive"] == {
        "type": "flow",
        "header": {"type": "text", "text": "Your feedback"},
        "body": {"text": "How did we do?"},
        "footer": {"text": "Thanks"},
        "action": {
            "name": "flow",
            "parameters": {
                "flow_message_version": "3",
                "flow_token": "feedback.abc",
                "flow_name": "feedback",
                "flow_cta": "Rate us",
                "flow_action": "navigate",
                "flow_action_payload": {"screen": "RATE", "data": {"name": "Ana"}},
            },
        },
    }
    by_id = flow_message("31612345678", "Hi", cta="Open", token="t", flow_id="1234", action="data_exchange")
    parameters = by_id["interactive"]["action"]["parameters"]
    assert parameters["flow_id"] == "1234"
    assert "flow_name" not in parameters
    assert "flow_action_payload" not in parameters  # data_exchange: the Flow's endpoint decides


def test_a_flow_message_keeps_meta_s_rules() -> None:
    """A button over 30 characters, naming the Flow twice or not at all, or an unknown action is refused."""
    with pytest.raises(LimitExceeded, match="flow call to action is 31 characters; WhatsApp allows at most 30"):
        flow_message("1", "Hi", cta="x" * 31, token="t", flow_name="f")
    with pytest.raises(ValidationError, match="exactly one of flow_id and flow_name"):
        flow_message("1", "Hi", cta="Open", token="t", flow_name="f", flow_id="1")
    with pytest.raises(ValidationError, match="exactly one of flow_id and flow_name"):
        flow_message("1", "Hi", cta="Open", token="t")
    with pytest.raises(ValidationError, match="flow_action 'open'"):
        flow_message("1", "Hi", cta="Open", token="t", flow_name="f", action="open")


def test_media_goes_by_id_or_link_with_a_caption_and_a_documents_name_only_where_whatsapp_shows_them() -> None:
    """Images, videos and documents carry a caption; only documents a file name; audio neither."""
    assert media_message(TO, "document", link="https://x.example/a.pdf", caption="Invoice", filename="a.pdf") == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "type": "document",
        "document": {"link": "https://x.example/a.pdf", "caption": "Invoice", "filename": "a.pdf"},
    }  # fmt: skip
    assert media_message(TO, "audio", media_id="9", caption="x", filename="a.mp3")["audio"] == {"id": "9"}
    assert media_message(TO, "image", media_id="9", filename="a.png")["image"] == {"id": "9"}
    with pytest.raises(LimitExceeded, match="caption is 1025 characters; WhatsApp allows at most 1024"):
        media_message(TO, "video", media_id="9", caption="c" * 1025)
    with pytest.raises(ValidationError, match="a media id or a link, exactly one"):
        media_message(TO, "image", media_id="9", link="https://x.example/a.png")


def test_interactive_messages_carry_a_file_header_a_link_button_and_a_location_request() -> None:
    """Meta's shapes: a file header on reply buttons, a cta_url action, a send_location action; limits refused."""
    photo = HeaderMedia("image", media_id="4490709327384033")
    buttons = buttons_message(TO, "Pick", [("a", "A")], header=photo, footer="Daily")
    assert buttons["interactive"]["header"] == {"type": "image", "image": {"id": "4490709327384033"}}
    link = cta_url_message(TO, "Track it", "Track parcel", "https://track.example.com/PX1", footer="PostNL")
    assert link["interactive"] == {
        "type": "cta_url",
        "body": {"text": "Track it"},
        "footer": {"text": "PostNL"},
        "action": {
            "name": "cta_url",
            "parameters": {"display_text": "Track parcel", "url": "https://track.example.com/PX1"},
        },
    }
    request = location_request_message(TO, "Where are you?")["interactive"]
    assert request == {
        "type": "location_request_message",
        "body": {"text": "Where are you?"},
        "action": {"name": "send_location"},
    }
    with pytest.raises(LimitExceeded, match="button text is 21 characters"):
        cta_url_message(TO, "x", "A" * 21, "https://x.example.com")
    with pytest.raises(LimitExceeded, match="https://"):
        cta_url_message(TO, "x", "Go", "http://x.example.com")
    with pytest.raises(LimitExceeded, match="not a location"):
        buttons_message(TO, "x", [("a", "A")], header=HeaderMedia("location", latitude=1.0, longitude=2.0))
