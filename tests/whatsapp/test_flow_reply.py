"""A WhatsApp Flow's answer: `response_json` read safely, whatever the customer's phone (or a stranger) put in it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.whatsapp.flow_reply import MAX_CHARS, MAX_DEPTH, MAX_FIELDS, FlowReply, answers_text, nfm_reply, read_reply
from bot.whatsapp.webhook_parser import parse_payload
from tests.conftest import envelope


def test_an_answer_is_read_into_its_token_and_fields() -> None:
    """The `complete` payload's fields come back beside the token, which is taken out of them."""
    reply = read_reply(json.dumps({"flow_token": "feedback.abc", "rating": "5", "liked": ["staff"], "ok": True}))
    assert reply == FlowReply("feedback.abc", {"rating": "5", "liked": ["staff"], "ok": True})


@pytest.mark.parametrize(
    ("response_json", "error"),
    [
        (None, "response_json is not a text"),
        ({"flow_token": "t"}, "response_json is not a text"),
        ("", "response_json is not JSON"),
        ("{not json", "response_json is not JSON"),
        ('{"flow_token": "t", "n": NaN}', "response_json is not JSON"),
        ('{"flow_token": "t", "n": 1e999}', "response_json is not JSON"),
        ("[1, 2]", "response_json is not a JSON object"),
        ('"flow_token"', "response_json is not a JSON object"),
        ("{}", "response_json has no flow_token"),
        ('{"flow_token": 7}', "response_json has no flow_token"),
        ('{"flow_token": ""}', "response_json has no flow_token"),
        ("[" * 30_000 + "]" * 30_000, f"response_json is nested 30000 deep; at most {MAX_DEPTH} is read"),
        ('{"flow_token": "t", "a": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}", "nested"),
        ('{"flow_token": "t", "a": "' + "x" * MAX_CHARS + '"}', f"at most {MAX_CHARS} are read"),
    ],
)
def test_hostile_response_json_is_an_error_never_an_exception(response_json: Any, error: str) -> None:
    """Not text, not JSON, NaN, not an object, no token, too deep, too big: each is an error, nothing raises."""
    reply = read_reply(response_json)
    assert reply.error is not None
    assert error in reply.error
    assert reply.fields == {}


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    """The depth check skips strings, escaped quotes included: a comment full of brackets is fine."""
    comment = '[[[[[[[[[[ \\" {{{{{{{{{{'
    reply = read_reply('{"flow_token": "t", "comment": "' + comment + '"}')
    assert reply.error is None
    assert reply.fields == {"comment": '[[[[[[[[[[ " {{{{{{{{{{'}


def test_too_many_fields_keep_the_token_but_no_fields() -> None:
    """More fields than any form has is refused, but the token still says which form it claims to answer."""
    answers = {"flow_token": "t", **{f"f{i}": i for i in range(MAX_FIELDS + 1)}}
    reply = read_reply(json.dumps(answers))
    assert reply.token == "t"
    assert reply.fields == {}
    assert "fields" in (reply.error or "")


def test_nul_and_lone_surrogates_become_storable_text() -> None:
    """Escapes no text column takes (NUL, a lone surrogate) come back as U+FFFD, as the webhook's JSON does."""
    reply = read_reply('{"flow_token": "t", "comment": "a\\u0000b\\ud800c"}')
    assert reply.fields == {"comment": "a\ufffdb\ufffdc"}


def test_only_nfm_replies_are_flow_answers() -> None:
    """A button reply or a text is not a Flow's answer; an nfm_reply without an object is an unreadable one."""
    assert nfm_reply({"interactive": {"type": "button_reply", "button_reply": {"id": "x"}}}) is None
    assert nfm_reply({"text": {"body": "hi"}}) is None
    assert nfm_reply(None) is None
    broken = nfm_reply({"interactive": {"type": "nfm_reply", "nfm_reply": "text"}})
    assert broken is not None
    assert broken.error == "response_json is not a text"


def test_answers_read_as_one_line_for_people() -> None:
    """Lists joined, booleans as yes or no, an unreadable answer says why."""
    text = answers_text(FlowReply("t", {"rating": "5", "liked": ["staff", "speed"], "contact_me": False}))
    assert text == "Form answers: rating: 5 · liked: staff, speed · contact_me: no"
    assert answers_text(FlowReply(error="response_json is not JSON: x")) == (
        "Form answer not readable: response_json is not JSON: x"
    )


def _nfm(response_json: Any, wamid: str = "wamid.flow.1") -> dict[str, Any]:
    message = {
        "from": "31612345678",
        "id": wamid,
        "timestamp": "1775822400",
        "type": "interactive",
        "interactive": {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": response_json},
        },
    }
    return envelope({"contacts": [{"wa_id": "31612345678", "profile": {"name": "Ana"}}], "messages": [message]})


def test_the_parser_keeps_an_unreadable_answer_and_notes_why() -> None:
    """A deep response_json still reads as a message (its flow re-prompts) and adds a small "flow_reply" notice."""
    deep = "[" * 30_000 + "]" * 30_000
    parsed = parse_payload(json.dumps(_nfm(deep)).encode())
    [message] = parsed.messages
    assert (message.wamid, message.type, message.text) == ("wamid.flow.1", "interactive", "Sent")
    [notice] = parsed.notices
    assert (notice.field, notice.kind, notice.wa_id) == ("messages", "flow_reply", "31612345678")
    assert notice.reason == "wamid.flow.1: response_json is nested 30000 deep; at most 8 is read"
    assert notice.raw == {"id": "wamid.flow.1", "type": "interactive"}  # no second copy of the text


def test_the_parser_adds_nothing_for_a_readable_answer() -> None:
    """A sound answer is a message and nothing else."""
    parsed = parse_payload(json.dumps(_nfm(json.dumps({"flow_token": "t", "rating": "4"}))).encode())
    assert len(parsed.messages) == 1
    assert parsed.notices == []


def test_a_response_json_of_the_wrong_type_is_an_unparsed_message() -> None:
    """`message_shape` refuses an nfm_reply whose response_json is not text: the item is a notice, not a message."""
    parsed = parse_payload(json.dumps(_nfm({"flow_token": "t"})).encode())
    assert parsed.messages == []
    assert [n.kind for n in parsed.notices] == ["unparsed"]
