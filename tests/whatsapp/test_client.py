"""Specification of bot.whatsapp.client: builders against Meta's examples and limits, error mapping, the client."""

from __future__ import annotations

import asyncio
import copy
import os
import socket
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from bot.errors import (
    AccountBlocked,
    CloudAPIError,
    LimitExceeded,
    MarketingLimited,
    MarketingStopped,
    NumberUpgrading,
    PairRateLimited,
    ReEngagementRequired,
    SpamRateLimited,
    TemplateError,
    ThroughputExceeded,
    TransientError,
    Undeliverable,
    ValidationError,
)
from bot.whatsapp.client import (
    ERROR_CLASSES,
    AiohttpTransport,
    CloudAPIClient,
    RecordedRequest,
    RecordingTransport,
    SendResult,
    connector,
    error_from_response,
    error_from_status_errors,
)
from bot.whatsapp.message_body import (
    authentication_message,
    buttons_message,
    list_message,
    read_receipt,
    template_message,
    text_message,
)

TO = "16505551234"
TOKEN = "EAAG-secret-token-0123456789"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUYzMjEzNDM2RTZGQ0MzMDJBRgA="
MESSAGES_PATH = "/{Version}/{Phone-Number-ID}/messages"
OPENAPI = Path(
    os.environ.get(
        "BOT_META_OPENAPI",
        Path(__file__).resolve().parents[3] / "shared/reference/whatsapp-cloud-api-openapi_v23.0.yaml",
    )
)
needs_openapi = pytest.mark.skipif(not OPENAPI.exists(), reason=f"Meta's OpenAPI file not found at {OPENAPI}")


# --- Meta's OpenAPI examples ------------------------------------------------------------------------


@cache
def _send_operation() -> dict[str, Any]:
    if not OPENAPI.exists():
        return {}
    with OPENAPI.open(encoding="utf-8") as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    operation: dict[str, Any] = spec["paths"][MESSAGES_PATH]["post"]
    return operation


def _request_examples() -> dict[str, dict[str, Any]]:
    examples = _send_operation().get("requestBody", {}).get("content", {}).get("application/json", {})
    return {name: example["value"] for name, example in examples.get("examples", {}).items()}


def _response_examples() -> dict[str, Any]:
    content = _send_operation().get("responses", {}).get("200", {}).get("content", {})
    return {name: ex["value"] for name, ex in content.get("application/json", {}).get("examples", {}).items()}


def _content_kind(example: dict[str, Any]) -> str | None:
    """The message type: the ``type`` field, or the one content key when Meta's example leaves it out."""
    if "type" in example:
        return str(example["type"])
    kinds = {"text", "interactive", "template", "image", "audio", "video", "document", "sticker"} & set(example)
    return kinds.pop() if len(kinds) == 1 else None


def _normalised(example: dict[str, Any]) -> dict[str, Any]:
    """Meta's example with its inconsistencies evened out, each one a documented default.

    Some examples omit ``recipient_type`` ("individual" is the default) or ``type`` (implied by the
    content key); template button ``index`` appears both as 0 and "0" (the docs send strings); one sets
    ``language.policy: deterministic``, the only policy and the default.
    """
    out = copy.deepcopy(example)
    if "status" not in out:
        out.setdefault("recipient_type", "individual")
        out.setdefault("type", _content_kind(out))
    template = out.get("template", {})
    template.get("language", {}).pop("policy", None)
    for component in template.get("components", []):
        if "index" in component:
            component["index"] = str(component["index"])
    return out


def _examples_of(kind: str, interactive: str | None = None) -> list[Any]:
    picked = []
    for name, example in _request_examples().items():
        if _content_kind(example) == kind and (
            interactive is None or example.get("interactive", {}).get("type") == interactive
        ):
            picked.append(pytest.param(_normalised(example), id=name))
    return picked


def _reply_to(example: dict[str, Any]) -> str | None:
    context = example.get("context")
    return None if context is None else str(context["message_id"])


@needs_openapi
def test_openapi_file_still_has_the_send_examples_these_tests_use() -> None:
    """Meta's OpenAPI file yields the text, button, list, template and read-receipt examples compared below."""
    counts = {
        "text": len(_examples_of("text")),
        "button": len(_examples_of("interactive", "button")),
        "list": len(_examples_of("interactive", "list")),
        "template": len(_examples_of("template")),
    }
    assert counts == {"text": 3, "button": 1, "list": 2, "template": 9}
    assert "Send typing indicator and read receipt" in _request_examples()


@needs_openapi
@pytest.mark.parametrize("example", _examples_of("text"))
def test_text_message_matches_meta_example(example: dict[str, Any]) -> None:
    """text_message builds exactly Meta's text examples, including preview_url and a quoted reply."""
    text = example["text"]
    built = text_message(example["to"], text["body"], preview_url=text["preview_url"], reply_to=_reply_to(example))
    assert built == example


@needs_openapi
@pytest.mark.parametrize("example", _examples_of("interactive", "button"))
def test_buttons_message_matches_meta_example(example: dict[str, Any]) -> None:
    """buttons_message builds exactly Meta's reply-button example."""
    interactive = example["interactive"]
    buttons = [(b["reply"]["id"], b["reply"]["title"]) for b in interactive["action"]["buttons"]]
    built = buttons_message(
        example["to"],
        interactive["body"]["text"],
        buttons,
        header=interactive.get("header", {}).get("text"),
        footer=interactive.get("footer", {}).get("text"),
        reply_to=_reply_to(example),
    )
    assert built == example


@needs_openapi
@pytest.mark.parametrize("example", _examples_of("interactive", "list"))
def test_list_message_matches_meta_example(example: dict[str, Any]) -> None:
    """list_message builds exactly Meta's list examples, header, footer, sections and reply context included."""
    interactive = example["interactive"]
    action = interactive["action"]
    sections = [
        (s.get("title"), [(r["id"], r["title"], r.get("description")) for r in s["rows"]]) for s in action["sections"]
    ]
    built = list_message(
        example["to"],
        interactive["body"]["text"],
        action["button"],
        sections,
        header=interactive.get("header", {}).get("text"),
        footer=interactive.get("footer", {}).get("text"),
        reply_to=_reply_to(example),
    )
    assert built == example


def _is_text_param(p: dict[str, Any]) -> bool:
    return p.get("type") == "text" and isinstance(p.get("text"), str)


def _supported(component: dict[str, Any]) -> bool:
    """Whether the builder can express this component: text parameters, quick-reply payloads, URL text."""
    params = component.get("parameters", [])
    kind, sub_type = component.get("type"), component.get("sub_type")
    if kind in ("header", "body"):
        return all(_is_text_param(p) for p in params)
    if kind == "button" and sub_type == "quick_reply":
        return all(p.get("type") == "payload" and isinstance(p.get("payload"), str) for p in params)
    return kind == "button" and sub_type == "url" and all(_is_text_param(p) for p in params)


def _params(component: dict[str, Any]) -> list[str] | dict[str, str]:
    params = component["parameters"]
    if params and all("parameter_name" in p for p in params):
        return {p["parameter_name"]: p["text"] for p in params}
    return [p.get("text", p.get("payload")) for p in params]


@needs_openapi
@pytest.mark.parametrize("example", _examples_of("template"))
def test_template_message_matches_meta_example(example: dict[str, Any]) -> None:
    """template_message reproduces every component of Meta's template examples that carries text parameters.

    Components with media, currency, date_time, catalog or flow parameters are outside the builder's
    scope and are left out of both sides.
    """
    template = example["template"]
    kept = [c for c in template.pop("components", []) if _supported(c)]
    if kept:
        template["components"] = kept
    by_type = {c["type"]: c for c in kept if c["type"] != "button"}
    buttons = [(c["sub_type"], int(c["index"]), _params(c)) for c in kept if c["type"] == "button"]
    built = template_message(
        example["to"],
        template["name"],
        template["language"]["code"],
        header_params=_params(by_type["header"]) if "header" in by_type else (),
        body_params=_params(by_type["body"]) if "body" in by_type else (),
        button_params=buttons,  # type: ignore[arg-type]
    )
    assert built == example


@needs_openapi
def test_read_receipt_matches_meta_example() -> None:
    """read_receipt with typing builds exactly Meta's "typing indicator and read receipt" example."""
    example = _request_examples()["Send typing indicator and read receipt"]
    assert read_receipt(example["message_id"], typing=True) == example


def test_read_receipt_without_typing_has_no_indicator() -> None:
    """read_receipt without typing sends only the read status."""
    assert read_receipt(WAMID) == {"messaging_product": "whatsapp", "status": "read", "message_id": WAMID}


# --- builders beyond Meta's examples ----------------------------------------------------------------


def test_authentication_message_carries_the_code_in_body_and_url_button() -> None:
    """authentication_message puts the code in the body and in URL button "0", as Meta's copy-code docs show."""
    assert authentication_message(TO, "otp_login", "en_US", "123456") == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "template",
        "template": {
            "name": "otp_login",
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "123456"}]},
            ],
        },
    }


def test_template_message_with_named_parameters_carries_parameter_names() -> None:
    """A mapping of parameters becomes named text parameters in header and body."""
    built = template_message(
        TO, "order_ready", "en", header_params={"order": "A-17"}, body_params={"name": "Ana", "shop": "Lisbon"}
    )
    assert built["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "parameter_name": "order", "text": "A-17"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "name", "text": "Ana"},
                {"type": "text", "parameter_name": "shop", "text": "Lisbon"},
            ],
        },
    ]


def test_template_message_builds_quick_reply_and_url_buttons() -> None:
    """Quick-reply buttons carry payload parameters and URL buttons text ones, with the index as a string."""
    built = template_message(TO, "promo", "en", button_params=[("quick_reply", 1, ["stop"]), ("url", 2, ["x1"])])
    assert built["template"]["components"] == [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "1",
            "parameters": [{"type": "payload", "payload": "stop"}],
        },
        {"type": "button", "sub_type": "url", "index": "2", "parameters": [{"type": "text", "text": "x1"}]},
    ]


def test_template_message_without_parameters_has_no_components() -> None:
    """A template without parameters sends no components key at all."""
    assert "components" not in template_message(TO, "hello_world", "en_US")["template"]


def test_buttons_message_with_header_footer_and_reply() -> None:
    """Header text, footer and quoted message are placed where Meta expects them."""
    built = buttons_message(TO, "Pick one", [("y", "Yes"), ("n", "No")], header="Hi", footer="Bye", reply_to=WAMID)
    assert built["context"] == {"message_id": WAMID}
    assert built["interactive"]["header"] == {"type": "text", "text": "Hi"}
    assert built["interactive"]["footer"] == {"text": "Bye"}


def test_list_message_with_one_untitled_section_omits_the_title() -> None:
    """A single section may go without a title, and a row without description has no description key."""
    built = list_message(TO, "Choose", "Options", [(None, [("a", "Alpha", None)])])
    assert built["interactive"]["action"]["sections"] == [{"rows": [{"id": "a", "title": "Alpha"}]}]


# --- limits -----------------------------------------------------------------------------------------

LengthCase = tuple[str, Callable[[str], dict[str, Any]], int, str]

ROW = ("r", "Row", None)
LENGTH_LIMITS: list[LengthCase] = [
    ("text body", lambda s: text_message(TO, s), 4096, "text body"),
    ("buttons body", lambda s: buttons_message(TO, s, [("a", "A")]), 1024, "body text"),
    ("button id", lambda s: buttons_message(TO, "b", [("a", "A"), (s, "B")]), 256, "button 2 id"),
    ("button title", lambda s: buttons_message(TO, "b", [("a", "A"), ("b", s)]), 20, "button 2 title"),
    ("buttons header", lambda s: buttons_message(TO, "b", [("a", "A")], header=s), 60, "header text"),
    ("buttons footer", lambda s: buttons_message(TO, "b", [("a", "A")], footer=s), 60, "footer text"),
    ("list body", lambda s: list_message(TO, s, "Menu", [(None, [ROW])]), 4096, "body text"),
    ("list button", lambda s: list_message(TO, "b", s, [(None, [ROW])]), 20, "list button label"),
    ("list header", lambda s: list_message(TO, "b", "Menu", [(None, [ROW])], header=s), 60, "header text"),
    ("list footer", lambda s: list_message(TO, "b", "Menu", [(None, [ROW])], footer=s), 60, "footer text"),
    (
        "section title",
        lambda s: list_message(TO, "b", "Menu", [("One", [ROW]), (s, [("q", "Q", None)])]),
        24,
        "section 2 title",
    ),
    (
        "row id",
        lambda s: list_message(TO, "b", "Menu", [(None, [ROW, (s, "Two", None)])]),
        200,
        "section 1 row 2 id",
    ),
    (
        "row title",
        lambda s: list_message(TO, "b", "Menu", [(None, [ROW, ("t", s, None)])]),
        24,
        "section 1 row 2 title",
    ),
    (
        "row description",
        lambda s: list_message(TO, "b", "Menu", [(None, [ROW, ("t", "T", s)])]),
        72,
        "section 1 row 2 description",
    ),
    ("authentication code", lambda s: authentication_message(TO, "otp", "en", s), 15, "authentication code"),
]


def _contains(value: Any, text: str) -> bool:
    if isinstance(value, dict):
        return any(_contains(v, text) for v in value.values())
    if isinstance(value, list):
        return any(_contains(v, text) for v in value)
    return bool(value == text)


@pytest.mark.parametrize(("name", "build", "limit", "field"), LENGTH_LIMITS, ids=[c[0] for c in LENGTH_LIMITS])
def test_length_at_the_limit_is_sent(name: str, build: Callable[[str], Any], limit: int, field: str) -> None:
    """A field exactly at Meta's length limit is accepted and appears in the body unchanged."""
    value = "x" * limit
    assert _contains(build(value), value)


@pytest.mark.parametrize(("name", "build", "limit", "field"), LENGTH_LIMITS, ids=[c[0] for c in LENGTH_LIMITS])
def test_length_over_the_limit_is_refused(name: str, build: Callable[[str], Any], limit: int, field: str) -> None:
    """One character over Meta's limit raises LimitExceeded naming the field, its length and the limit."""
    with pytest.raises(LimitExceeded) as caught:
        build("x" * (limit + 1))
    assert str(caught.value) == f"{field} is {limit + 1} characters; WhatsApp allows at most {limit}"


EMPTY_REFUSED: list[tuple[str, Callable[[], Any], str]] = [
    ("text body", lambda: text_message(TO, ""), "text body"),
    ("buttons body", lambda: buttons_message(TO, "", [("a", "A")]), "body text"),
    ("button id", lambda: buttons_message(TO, "b", [("", "A")]), "button 1 id"),
    ("button title", lambda: buttons_message(TO, "b", [("a", "")]), "button 1 title"),
    ("list body", lambda: list_message(TO, "", "Menu", [(None, [ROW])]), "body text"),
    ("list button", lambda: list_message(TO, "b", "", [(None, [ROW])]), "list button label"),
    ("row id", lambda: list_message(TO, "b", "Menu", [(None, [("", "T", None)])]), "section 1 row 1 id"),
    ("row title", lambda: list_message(TO, "b", "Menu", [(None, [("r", "", None)])]), "section 1 row 1 title"),
    ("authentication code", lambda: authentication_message(TO, "otp", "en", ""), "authentication code"),
]


@pytest.mark.parametrize(("name", "build", "field"), EMPTY_REFUSED, ids=[c[0] for c in EMPTY_REFUSED])
def test_empty_required_field_is_refused(name: str, build: Callable[[], Any], field: str) -> None:
    """An empty required text raises LimitExceeded saying at least one character is needed."""
    with pytest.raises(LimitExceeded, match=f"^{field} is 0 characters; WhatsApp requires at least 1$"):
        build()


def _buttons(n: int) -> list[tuple[str, str]]:
    return [(f"id{i}", f"Title {i}") for i in range(n)]


def _sections(*sizes: int) -> list[tuple[str | None, list[tuple[str, str, str | None]]]]:
    return [(f"S{s}", [(f"r{s}.{r}", f"Row {r}", None) for r in range(n)]) for s, n in enumerate(sizes)]


COUNT_LIMITS: list[tuple[str, Callable[[], Any], Callable[[], Any], str]] = [
    (
        "buttons",
        lambda: buttons_message(TO, "b", _buttons(3)),
        lambda: buttons_message(TO, "b", _buttons(4)),
        "the message has 4 buttons; WhatsApp allows at most 3",
    ),
    (
        "sections",
        lambda: list_message(TO, "b", "Menu", _sections(*[1] * 10)),
        lambda: list_message(TO, "b", "Menu", _sections(*[1] * 11)),
        "the list has 11 sections; WhatsApp allows at most 10",
    ),
    (
        "rows in all",
        lambda: list_message(TO, "b", "Menu", _sections(4, 6)),
        lambda: list_message(TO, "b", "Menu", _sections(5, 6)),
        "the list has 11 rows in all; WhatsApp allows at most 10",
    ),
    (
        "template button index",
        lambda: template_message(TO, "t", "en", button_params=[("url", 9, ["x"])]),
        lambda: template_message(TO, "t", "en", button_params=[("url", 10, ["x"])]),
        "template button index 10 is out of range; WhatsApp allows 0 to 9",
    ),
]


@pytest.mark.parametrize(("name", "at", "over", "message"), COUNT_LIMITS, ids=[c[0] for c in COUNT_LIMITS])
def test_count_limits(name: str, at: Callable[[], Any], over: Callable[[], Any], message: str) -> None:
    """A count at Meta's limit is accepted; one more raises LimitExceeded with a precise message."""
    at()
    with pytest.raises(LimitExceeded) as caught:
        over()
    assert str(caught.value) == message


REFUSED_SHAPES: list[tuple[str, Callable[[], Any], str]] = [
    ("no buttons", lambda: buttons_message(TO, "b", []), "the message has 0 buttons; WhatsApp requires at least 1"),
    ("no sections", lambda: list_message(TO, "b", "Menu", []), "the list has 0 sections; WhatsApp requires at least 1"),
    (
        "empty section",
        lambda: list_message(TO, "b", "Menu", [("A", [ROW]), ("B", [])]),
        "section 2 has 0 rows; WhatsApp requires at least 1",
    ),
    (
        "untitled second section",
        lambda: list_message(TO, "b", "Menu", [("A", [ROW]), (None, [("q", "Q", None)])]),
        "section 2 has no title; WhatsApp requires one when there are several",
    ),
    (
        "repeated button title",
        lambda: buttons_message(TO, "b", [("a", "Yes"), ("b", "Yes")]),
        "button 2 title 'Yes' repeats button 1; WhatsApp requires unique titles",
    ),
    (
        "repeated button id",
        lambda: buttons_message(TO, "b", [("a", "Yes"), ("a", "No")]),
        "button 2 id 'a' repeats button 1; WhatsApp requires unique ids",
    ),
    (
        "repeated row id across sections",
        lambda: list_message(TO, "b", "Menu", [("A", [ROW]), ("B", [ROW])]),
        "section 2 row 1 id 'r' repeats section 1 row 1; WhatsApp requires unique ids",
    ),
    (
        "negative template button index",
        lambda: template_message(TO, "t", "en", button_params=[("quick_reply", -1, ["x"])]),
        "template button index -1 is out of range; WhatsApp allows 0 to 9",
    ),
]


@pytest.mark.parametrize(("name", "build", "message"), REFUSED_SHAPES, ids=[c[0] for c in REFUSED_SHAPES])
def test_refused_shapes(name: str, build: Callable[[], Any], message: str) -> None:
    """Missing, repeated or out-of-range structure raises LimitExceeded before anything is sent."""
    with pytest.raises(LimitExceeded) as caught:
        build()
    assert str(caught.value) == message


def test_unknown_template_button_sub_type_is_a_validation_error() -> None:
    """A button sub_type other than quick_reply or url is refused as invalid input, not as a limit."""
    with pytest.raises(ValidationError, match="'copy_code' is not quick_reply or url") as caught:
        template_message(TO, "t", "en", button_params=[("copy_code", 0, ["x"])])
    assert not isinstance(caught.value, LimitExceeded)


# --- error mapping ----------------------------------------------------------------------------------

ERROR_TABLE: list[tuple[int, type[CloudAPIError]]] = [
    (131047, ReEngagementRequired),
    (131026, Undeliverable),
    (130429, ThroughputExceeded),
    (131056, PairRateLimited),
    (131048, SpamRateLimited),
    (131049, MarketingLimited),
    (131050, MarketingStopped),
    (132000, TemplateError),
    (132001, TemplateError),
    (132015, TemplateError),
    (132016, TemplateError),
    (131057, NumberUpgrading),
    (368, AccountBlocked),
    (131000, TransientError),
]


def _meta_error(code: int, message: str = "Something happened") -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_subcode": 2494010,
            "error_data": {"messaging_product": "whatsapp", "details": f"details of {code}"},
            "fbtrace_id": "AbCdEf123",
        }
    }


def test_mapping_table_is_exactly_the_reference_table() -> None:
    """ERROR_CLASSES holds every code of the reference table and nothing else."""
    assert dict(ERROR_CLASSES) == dict(ERROR_TABLE)


@pytest.mark.parametrize(("code", "cls"), ERROR_TABLE, ids=[str(c) for c, _ in ERROR_TABLE])
def test_error_from_response_maps_each_code(code: int, cls: type[CloudAPIError]) -> None:
    """Each code of the table becomes its class with code, subcode, status, details, trace id and raw body filled."""
    body = _meta_error(code)
    error = error_from_response(400, body)
    assert type(error) is cls
    assert (error.error_code, error.subcode, error.http_status) == (code, 2494010, 400)
    assert (error.details, error.fbtrace_id, error.raw) == (f"details of {code}", "AbCdEf123", body)
    assert str(error) == f"WhatsApp error {code}: Something happened (details of {code})"


def test_error_class_is_decided_by_code_never_by_title() -> None:
    """A misleading message does not change the class: code 131047 titled as a rate limit is re-engagement."""
    error = error_from_response(429, _meta_error(131047, "Rate limit hit"))
    assert type(error) is ReEngagementRequired


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_with_unknown_code_is_transient(status: int) -> None:
    """A 5xx answer with a code outside the table is transient and retryable."""
    error = error_from_response(status, _meta_error(1))
    assert type(error) is TransientError
    assert error.retryable
    assert error.http_status == status


@pytest.mark.parametrize(
    "body",
    [None, "<html>Bad gateway</html>", {"unexpected": 1}, {"error": "oops"}, {"error": {"message": "no code"}}],
    ids=["none", "html", "no-error-key", "error-not-object", "no-code"],
)
def test_unreadable_error_body_is_transient(body: Any) -> None:
    """An answer whose body is not a readable Meta error object is transient."""
    error = error_from_response(400, body)
    assert type(error) is TransientError
    assert error.http_status == 400


def test_unknown_code_is_a_plain_cloud_api_error() -> None:
    """A 4xx code outside the table is a plain, non-retryable CloudAPIError."""
    error = error_from_response(400, _meta_error(100, "Invalid parameter"))
    assert type(error) is CloudAPIError
    assert not error.retryable
    assert error.error_code == 100


def test_status_webhook_errors_use_the_same_mapping() -> None:
    """The errors[] of a failed status webhook map by code, with details and no HTTP status."""
    errors = [
        {
            "code": 131050,
            "title": "Unable to deliver the message.",
            "message": "Unable to deliver the message.",
            "error_data": {"details": "The user has chosen to stop receiving marketing messages."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    ]
    error = error_from_status_errors(errors)
    assert type(error) is MarketingStopped
    assert (error.error_code, error.http_status, error.raw) == (131050, None, {"errors": errors})
    assert error.details == "The user has chosen to stop receiving marketing messages."


def test_status_webhook_without_errors_is_transient() -> None:
    """A failed status that carries no error object is treated as transient."""
    assert type(error_from_status_errors([])) is TransientError


# --- client over RecordingTransport -----------------------------------------------------------------


def _client(transport: Any, base_url: str = "https://graph.facebook.com") -> CloudAPIClient:
    return CloudAPIClient(
        transport=transport, base_url=base_url, version="v23.0", phone_number_id="106540352242922", access_token=TOKEN
    )


async def test_send_posts_body_to_messages_endpoint_with_bearer_token() -> None:
    """send POSTs the body unchanged to {base}/{version}/{phone_number_id}/messages with the bearer token."""
    transport = RecordingTransport()
    body = text_message(TO, "Hello")
    await _client(transport, "https://graph.facebook.com/").send(body)
    assert transport.requests == [
        RecordedRequest(
            "https://graph.facebook.com/v23.0/106540352242922/messages", body, {"Authorization": f"Bearer {TOKEN}"}
        )
    ]


@needs_openapi
async def test_send_reads_meta_success_answer() -> None:
    """send returns the wamid and wa_id of Meta's example success answer."""
    answer = _response_examples()["Example response"]
    result = await _client(RecordingTransport([(200, answer)])).send(text_message(TO, "Hi"))
    assert result == SendResult(answer["messages"][0]["id"], answer["contacts"][0]["wa_id"], None)


async def test_send_reads_message_status() -> None:
    """send reports messages[0].message_status when Meta includes it (e.g. held_for_quality_assessment)."""
    answer = {"messages": [{"id": WAMID, "message_status": "accepted"}], "contacts": []}
    result = await _client(RecordingTransport([(200, answer)])).send(text_message(TO, "Hi"))
    assert result == SendResult(WAMID, None, "accepted")


@pytest.mark.parametrize(
    "answer", [None, {}, {"messages": []}, {"messages": [{"id": ""}]}], ids=["none", "empty", "no-messages", "blank-id"]
)
async def test_success_without_message_id_is_transient(answer: Any) -> None:
    """A 2xx answer without messages[0].id raises TransientError."""
    with pytest.raises(TransientError, match="without a message id"):
        await _client(RecordingTransport([(200, answer)])).send(text_message(TO, "Hi"))


async def test_send_raises_mapped_error() -> None:
    """A non-2xx answer raises the error mapped from Meta's code, with the HTTP status."""
    transport = RecordingTransport([(400, _meta_error(131047))])
    with pytest.raises(ReEngagementRequired) as caught:
        await _client(transport).send(text_message(TO, "Hi"))
    assert caught.value.http_status == 400


async def test_token_never_appears_in_errors_or_repr() -> None:
    """Even when a server echoes the token back, the raised error's str, repr and raw do not contain it."""
    echo = {"error": {"code": 190, "message": f"Invalid OAuth access token {TOKEN}", "fbtrace_id": TOKEN}}
    client = _client(RecordingTransport([(401, echo)]))
    with pytest.raises(CloudAPIError) as caught:
        await client.send(text_message(TO, "Hi"))
    error = caught.value
    for text in (str(error), repr(error), repr(error.raw), repr(error.fbtrace_id), repr(client)):
        assert TOKEN not in text


async def test_mark_read_posts_read_receipt() -> None:
    """mark_read posts a read receipt with the typing indicator when asked."""
    transport = RecordingTransport([(200, {"success": True})])
    await _client(transport).mark_read(WAMID, typing=True)
    assert transport.requests[0].json == read_receipt(WAMID, typing=True)


async def test_mark_read_raises_mapped_error() -> None:
    """mark_read raises the mapped error when Meta refuses it."""
    with pytest.raises(TransientError):
        await _client(RecordingTransport([(500, None)])).mark_read(WAMID)


async def test_recording_transport_default_answers_give_fresh_wamids() -> None:
    """Without canned answers every send is accepted with a new wamid and the recipient as wa_id."""
    client = _client(RecordingTransport())
    first, second = [await client.send(text_message(TO, "Hi")) for _ in range(2)]
    assert first.wamid != second.wamid
    assert first.wa_id == TO


async def test_recording_transport_raises_queued_exceptions_and_runs_out() -> None:
    """Queued exceptions are raised in turn, and an exhausted queue fails loudly."""
    transport = RecordingTransport([TransientError("timed out")])
    client = _client(transport)
    with pytest.raises(TransientError, match="timed out"):
        await client.send(text_message(TO, "Hi"))
    with pytest.raises(LookupError, match="no answer left for request 2"):
        await client.send(text_message(TO, "Hi"))
    transport.answer((200, {"messages": [{"id": WAMID}]}))
    assert (await client.send(text_message(TO, "Hi"))).wamid == WAMID


async def test_recording_transport_answers_from_a_callable() -> None:
    """A callable answers each request from what was sent."""

    def responder(request: RecordedRequest) -> tuple[int, Any]:
        return 200, {"messages": [{"id": f"wamid.{request.json['to']}"}]}

    assert (await _client(RecordingTransport(responder)).send(text_message("42", "Hi"))).wamid == "wamid.42"


# --- AiohttpTransport against a real local server ---------------------------------------------------


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _serve(aiohttp_server: Any, handler: Callable[[web.Request], Any]) -> str:
    app = web.Application()
    app.router.add_post("/v23.0/106540352242922/messages", handler)
    server = await aiohttp_server(app)
    return str(server.make_url(""))


async def test_aiohttp_transport_success(aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    """The real transport sends JSON with the bearer header and decodes Meta's JSON answer."""
    seen: list[tuple[str | None, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response({"messages": [{"id": WAMID}], "contacts": [{"input": TO, "wa_id": TO}]})

    base = await _serve(aiohttp_server, handler)
    result = await _client(AiohttpTransport(session), base).send(text_message(TO, "Hi"))
    assert result == SendResult(WAMID, TO, None)
    assert seen == [(f"Bearer {TOKEN}", text_message(TO, "Hi"))]


async def test_aiohttp_transport_4xx_error_json(aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    """A 4xx answer with Meta's error JSON comes back decoded and maps to its typed error."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(_meta_error(131056), status=400)

    base = await _serve(aiohttp_server, handler)
    url = f"{base}/v23.0/106540352242922/messages"
    assert await AiohttpTransport(session).post(url, json={}, headers={}) == (400, _meta_error(131056))
    with pytest.raises(PairRateLimited):
        await _client(AiohttpTransport(session), base).send(text_message(TO, "Hi"))


async def test_aiohttp_transport_500_text_body(aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    """A 500 answer with a non-JSON body decodes to None and raises TransientError."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=500, text="Internal Server Error")

    base = await _serve(aiohttp_server, handler)
    with pytest.raises(TransientError) as caught:
        await _client(AiohttpTransport(session), base).send(text_message(TO, "Hi"))
    assert caught.value.http_status == 500


async def test_aiohttp_transport_timeout(aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    """A server slower than the per-request timeout raises TransientError."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    base = await _serve(aiohttp_server, handler)
    try:
        with pytest.raises(TransientError, match=r"timed out after 0\.05 s"):
            await _client(AiohttpTransport(session, timeout=0.05), base).send(text_message(TO, "Hi"))
    finally:
        release.set()


async def test_every_send_the_throughput_allows_is_out_at_once(aiohttp_server: Any) -> None:
    """The service's pool has a connection for each send the throttle lets out: none waits for one.

    Meta answers none of them until all are in; aiohttp's default pool of 100 held the rest back for good.
    """
    throughput, arrived, all_in = 150, [0], asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        arrived[0] += 1
        if arrived[0] == throughput:
            all_in.set()
        await all_in.wait()
        return web.json_response({"messages": [{"id": WAMID}], "contacts": [{"input": TO, "wa_id": TO}]})

    base = await _serve(aiohttp_server, handler)
    async with aiohttp.ClientSession(connector=connector(throughput)) as session:
        client = _client(AiohttpTransport(session), base)
        async with asyncio.timeout(30):
            results = await asyncio.gather(*(client.send(text_message(TO, "Hi")) for _ in range(throughput)))
    assert results == [SendResult(WAMID, TO, None)] * throughput


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_aiohttp_transport_connection_refused(closed_port: int, session: aiohttp.ClientSession) -> None:
    """A refused connection raises TransientError without the token in its message."""
    with pytest.raises(TransientError) as caught:
        await _client(AiohttpTransport(session), f"http://127.0.0.1:{closed_port}").send(text_message(TO, "Hi"))
    assert TOKEN not in str(caught.value)
