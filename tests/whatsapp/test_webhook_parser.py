"""Specification of ``bot.whatsapp.webhook_parser``: reading Meta's webhook notification bodies."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import MalformedPayload, ValidationError
from bot.whatsapp.webhook_parser import (
    ContactInfo,
    InboundMessage,
    Notice,
    ParsedPayload,
    StatusUpdate,
    parse_payload,
    unreadable_paths,
)

PAYLOADS = Path(__file__).parents[1] / "payloads"
OPENAPI = Path(__file__).resolve().parents[3] / "shared/reference/whatsapp-cloud-api-openapi_v23.0.yaml"
PHONE_NUMBER_ID = "106540352242922"
SHEENA = "16505551234"
USER_ID = "US.13491208655302741918"
FIRST = "entry[0].changes[0].value"


def load(name: str) -> dict[str, Any]:
    """Read one sample payload from ``tests/payloads``."""
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data


def first_value(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the value of the first change of the first entry, for editing a sample."""
    value: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]
    return value


def kinds(parsed: ParsedPayload) -> list[tuple[str, str]]:
    """Summarise what a payload parsed into, in a comparable form."""
    return (
        [("message", m.type) for m in parsed.messages]
        + [("status", s.status) for s in parsed.statuses]
        + [("preference", p.value) for p in parsed.preferences]
        + [(n.kind, n.field) for n in parsed.notices]
        + [("lifecycle", c.kind) for c in parsed.lifecycle]
    )


def only_message(payload: dict[str, Any]) -> InboundMessage:
    """Parse a payload that must hold exactly one message and nothing to note."""
    parsed = parse_payload(payload)
    assert parsed.notices == []
    assert len(parsed.messages) == 1
    return parsed.messages[0]


# Meta's OpenAPI file ------------------------------------------------------------------------------------


def openapi_examples() -> dict[str, dict[str, Any]]:
    """Pick every webhook notification example out of Meta's OpenAPI file, keyed by its name."""
    if not OPENAPI.exists():
        return {}
    with OPENAPI.open(encoding="utf-8") as fh:
        spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any, name: str) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("entry"), list) and "object" in node:
                found[name] = node
                return
            for key, child in node.items():
                walk(child, name if key == "value" else str(key))
        elif isinstance(node, list):
            for child in node:
                walk(child, name)

    walk(spec, "")
    return found


OPENAPI_EXAMPLES = openapi_examples()
needs_openapi = pytest.mark.skipif(not OPENAPI_EXAMPLES, reason=f"{OPENAPI} not present")

OPENAPI_KINDS: dict[str, list[tuple[str, str]]] = {
    "Text Message": [("message", "text")],
    "Text Message with Context (Product Inquiry)": [("message", "text")],
    "Text Message from Click to WhatsApp Ad": [("message", "text")],
    "Reaction Message": [("message", "reaction")],
    "Image Message": [("message", "image")],
    "Location Message": [("message", "location")],
    "Contact Sharing Message": [("message", "contacts")],
    "Unsupported Message": [("message", "unsupported")],
    "Button Message": [("message", "button")],
    "Interactive List Reply Message": [("message", "interactive")],
    "Interactive Button Reply Message": [("message", "interactive")],
    "Order Message": [("message", "order")],
    "System Message": [("message", "system")],
    "Group Create Message": [("field", "group_lifecycle_update")],
    "Group Settings Update": [("field", "group_settings_update")],
    # The field is spelt "group_participant_update" in the file's own enum; the example says "participants".
    "Group Remove Participants": [("field", "group_participants_update")],
}


@needs_openapi
def test_openapi_file_holds_the_sixteen_known_webhook_examples() -> None:
    """The examples found in Meta's OpenAPI file are exactly the sixteen this suite knows."""
    assert sorted(OPENAPI_EXAMPLES) == sorted(OPENAPI_KINDS)


@needs_openapi
@pytest.mark.parametrize("name", sorted(OPENAPI_EXAMPLES))
def test_openapi_example_parses_into_expected_kinds(name: str) -> None:
    """Each of Meta's webhook examples parses, from bytes or decoded, into its kinds with nothing unparsed."""
    example = OPENAPI_EXAMPLES[name]
    parsed = parse_payload(example)
    assert kinds(parsed) == OPENAPI_KINDS[name]
    assert parse_payload(json.dumps(example).encode()) == parsed
    assert parsed.object == "whatsapp_business_account"
    for message in parsed.messages:
        assert message.phone_number_id == PHONE_NUMBER_ID
        assert message.wa_id == SHEENA
        assert message.timestamp.tzinfo is UTC
        assert message.raw in first_value(example)["messages"]


@needs_openapi
@pytest.mark.parametrize(
    ("name", "text", "reply_id", "context_wamid"),
    [
        ("Text Message", "Does it come in another color?", None, None),
        (
            "Text Message with Context (Product Inquiry)",
            "Is this still available?",
            None,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
        ),
        ("Reaction Message", "\N{THUMBS UP SIGN}", None, None),
        ("Image Message", "Taj Mahal", None, None),
        ("Location Message", "Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301", None, None),
        ("Contact Sharing Message", None, None, None),
        (
            "Button Message",
            "Unsubscribe",
            "Unsubscribe",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
        ),
        (
            "Interactive List Reply Message",
            "Priority Mail Express",
            "priority_express",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA",
        ),
        (
            "Interactive Button Reply Message",
            "Cancel",
            "cancel-button",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
        ),
        ("Order Message", None, None, None),
    ],
)
def test_openapi_example_reads_as_a_person_would(
    name: str, text: str | None, reply_id: str | None, context_wamid: str | None
) -> None:
    """Meta's examples yield the text a person reads, the tapped reply's id and the quoted message."""
    message = only_message(OPENAPI_EXAMPLES[name])
    assert (message.text, message.reply_id, message.context_wamid) == (text, reply_id, context_wamid)
    assert message.profile_name == "Sheena Nelson"


@needs_openapi
def test_openapi_ad_referral_is_kept_as_received() -> None:
    """The click-to-WhatsApp ad referral in Meta's example is kept whole."""
    example = OPENAPI_EXAMPLES["Text Message from Click to WhatsApp Ad"]
    message = only_message(example)
    assert message.referral == first_value(example)["messages"][0]["referral"]
    assert message.referral is not None
    assert message.referral["ctwa_clid"].startswith("Aff-")


@needs_openapi
def test_openapi_system_message_without_contacts_has_no_profile() -> None:
    """Meta's system example carries no contacts, so the message keeps its sender but has no profile name."""
    message = only_message(OPENAPI_EXAMPLES["System Message"])
    assert (message.wa_id, message.user_id, message.profile_name, message.text) == (SHEENA, None, None, None)
    assert message.raw["system"]["type"] == "user_changed_number"


# Our own sample payloads: one message of each type ---------------------------------------------------

MESSAGE_SAMPLES = [
    ("text.json", "text", "Hello, is the shop open on Sunday?", None),
    ("image.json", "image", "The broken part", None),
    ("video.json", "video", "How it sounds", None),
    ("audio_voice.json", "audio", None, None),
    ("document.json", "document", "My invoice", None),
    ("sticker.json", "sticker", None, None),
    ("location.json", "location", "Philz Coffee, 101 Forest Ave, Palo Alto, CA 94301", None),
    ("contacts.json", "contacts", None, None),
    ("interactive_button_reply.json", "interactive", "Yes, confirm", "confirm-yes"),
    ("interactive_list_reply.json", "interactive", "09:30", "slot-0930"),
    ("interactive_nfm_reply.json", "interactive", "Sent", None),
    ("button.json", "button", "Stop promotions", "STOP_PROMOTIONS"),
    ("reaction.json", "reaction", "\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}", None),
    ("reaction_removed.json", "reaction", "", None),
    ("order.json", "order", None, None),
    ("system_user_changed_number.json", "system", None, None),
    ("system_customer_identity_changed.json", "system", None, None),
    ("unsupported.json", "unsupported", None, None),
    ("unknown.json", "unknown", None, None),
    ("referral.json", "text", "Hi! I saw your ad", None),
]


@pytest.mark.parametrize(("name", "type_", "text", "reply_id"), MESSAGE_SAMPLES)
def test_message_sample_reads_type_text_and_reply(
    name: str, type_: str, text: str | None, reply_id: str | None
) -> None:
    """Each message type yields Meta's type as sent, the text a person reads and any reply id."""
    payload = load(name)
    message = only_message(payload)
    assert (message.type, message.text, message.reply_id) == (type_, text, reply_id)
    assert message.wamid.startswith("wamid.")
    assert message.wa_id == SHEENA
    assert message.phone_number_id == PHONE_NUMBER_ID
    assert message.timestamp.tzinfo is UTC
    assert message.raw == first_value(payload)["messages"][0]


def test_message_timestamp_is_utc_from_unix_seconds() -> None:
    """The Unix-seconds string becomes the matching UTC-aware datetime."""
    message = only_message(load("text.json"))
    assert message.timestamp == datetime(2025, 6, 15, 15, 6, 41, tzinfo=UTC)


def test_message_joins_its_contact_profile_name() -> None:
    """A message takes the profile name of the contact whose wa_id matches its sender."""
    message = only_message(load("text.json"))
    assert (message.profile_name, message.user_id) == ("Sheena Nelson", None)


def test_reply_carries_the_quoted_message_id() -> None:
    """A reply to a business message carries the quoted wamid from its context."""
    message = only_message(load("interactive_button_reply.json"))
    assert message.context_wamid == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCVVNJTkVTUzAwMQA="


def test_flow_reply_keeps_response_json_in_raw() -> None:
    """A flow (nfm_reply) answer reads as its body and keeps its response_json untouched in raw."""
    message = only_message(load("interactive_nfm_reply.json"))
    response = json.loads(message.raw["interactive"]["nfm_reply"]["response_json"])
    assert response == {"flow_token": "booking-42", "date": "2025-07-01"}


def test_a_flow_reply_without_response_json_is_kept_with_a_flow_reply_notice() -> None:
    """The answer still reads as a message (the customer wrote); the notice says why its form cannot be read.

    Found by the mutation fuzzer below once the notice kind existed and its invariant did not know it.
    """
    payload = load("interactive_nfm_reply.json")
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["nfm_reply"]["response_json"]
    parsed = parse_or_refuse(payload)
    assert parsed is not None
    assert len(parsed.messages) == 1
    assert [(n.kind, (n.reason or "").split(": ")[-1]) for n in parsed.notices] == [
        ("flow_reply", "response_json is not a text")
    ]


def test_removed_reaction_is_an_empty_emoji() -> None:
    """A removed reaction reads as an empty string, not as no text, and keeps the reacted-to wamid in raw."""
    message = only_message(load("reaction_removed.json"))
    assert message.text == ""
    assert message.raw["reaction"]["message_id"] == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJCVVNJTkVTUzAwMQA="


def test_a_location_without_name_or_address_reads_as_its_coordinates_and_stays_whole() -> None:
    """A pin dropped anywhere reads as "latitude, longitude"; the whole location object stays in raw."""
    payload = load("location.json")
    place = payload["entry"][0]["changes"][0]["value"]["messages"][0]["location"]
    for key in ("name", "address"):
        place.pop(key, None)
    message = only_message(payload)
    assert message.text == f"{place['latitude']}, {place['longitude']}"
    assert message.raw["location"] == place


def test_voice_note_is_audio_with_voice_flag_kept() -> None:
    """A voice note is an audio message without text whose voice flag stays in raw."""
    message = only_message(load("audio_voice.json"))
    assert message.raw["audio"]["voice"] is True


def test_unsupported_and_unknown_keep_their_errors_in_raw() -> None:
    """Unsupported and unknown messages are messages, not notices, and keep their errors in raw."""
    for name in ("unsupported.json", "unknown.json"):
        message = only_message(load(name))
        assert message.raw["errors"][0]["code"] == 131051


def test_system_messages_keep_their_system_type() -> None:
    """Both system message kinds arrive without contacts and keep their details in raw."""
    changed = only_message(load("system_user_changed_number.json"))
    identity = only_message(load("system_customer_identity_changed.json"))
    assert changed.raw["system"]["wa_id"] == "12195555358"
    assert identity.raw["system"]["type"] == "customer_identity_changed"
    assert changed.profile_name is None


def test_referral_is_kept_as_received() -> None:
    """A click-to-WhatsApp referral is passed on as the object Meta sent."""
    payload = load("referral.json")
    message = only_message(payload)
    assert message.referral == first_value(payload)["messages"][0]["referral"]


def test_message_without_referral_or_context_has_none() -> None:
    """A plain message has neither referral nor quoted message."""
    message = only_message(load("text.json"))
    assert (message.referral, message.context_wamid) == (None, None)


# Statuses ---------------------------------------------------------------------------------------------


def only_status(name: str) -> StatusUpdate:
    """Parse a sample that must hold exactly one status and nothing else."""
    parsed = parse_payload(load(name))
    assert (parsed.messages, parsed.notices, parsed.contacts) == ([], [], [])
    assert len(parsed.statuses) == 1
    return parsed.statuses[0]


@pytest.mark.parametrize(
    ("name", "status", "priced", "errors"),
    [
        ("status_sent.json", "sent", True, 0),
        ("status_delivered.json", "delivered", True, 0),
        ("status_read.json", "read", False, 0),
        ("status_failed.json", "failed", False, 1),
        ("status_played.json", "played", False, 0),
    ],
)
def test_status_sample_reads_status_pricing_and_errors(name: str, status: str, priced: bool, errors: int) -> None:
    """Each status kind yields its status, pricing and conversation when sent, and its errors."""
    update = only_status(name)
    assert update.status == status
    assert (update.pricing is not None, update.conversation is not None) == (priced, priced)
    assert len(update.errors) == errors
    assert (update.recipient_id, update.phone_number_id) == (SHEENA, PHONE_NUMBER_ID)
    assert update.timestamp.tzinfo is UTC


def test_sent_status_carries_pricing_conversation_and_callback_data() -> None:
    """A sent status passes on pricing, conversation and the business's opaque callback data."""
    update = only_status("status_sent.json")
    assert update.pricing == {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
    assert update.conversation is not None
    assert update.conversation["origin"] == {"type": "marketing"}
    assert update.biz_opaque_callback_data == "campaign=summer-2025"
    assert update.wamid == update.raw["id"]


def test_read_status_needs_no_delivered_status() -> None:
    """A read status stands alone: no pricing, no errors, no callback data."""
    update = only_status("status_read.json")
    assert (update.pricing, update.conversation, update.errors, update.biz_opaque_callback_data) == (
        None,
        None,
        [],
        None,
    )


def test_failed_status_carries_the_error_code() -> None:
    """A failed status passes on Meta's error objects so the code can decide what to do."""
    update = only_status("status_failed.json")
    assert update.errors[0]["code"] == 131050


# Preferences, errors and other fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "choice"), [("user_preferences_stop.json", "stop"), ("user_preferences_resume.json", "resume")]
)
def test_user_preference_reads_stop_and_resume(name: str, choice: str) -> None:
    """A user_preferences change yields the user's marketing stop or resume, with its integer timestamp."""
    parsed = parse_payload(load(name))
    assert parsed.notices == []
    assert parsed.contacts == [ContactInfo(SHEENA, None, "Sheena Nelson", None)]
    [preference] = parsed.preferences
    assert (preference.wa_id, preference.category, preference.value) == (SHEENA, "marketing_messages", choice)
    assert preference.detail is not None
    assert choice in preference.detail
    assert preference.timestamp is not None
    assert preference.timestamp.tzinfo is UTC


def test_user_preference_with_unreadable_timestamp_is_still_kept() -> None:
    """A stop whose timestamp cannot be read is kept with no timestamp rather than lost."""
    payload = load("user_preferences_stop.json")
    first_value(payload)["user_preferences"][0]["timestamp"] = "yesterday"
    [preference] = parse_payload(payload).preferences
    assert (preference.value, preference.timestamp) == ("stop", None)


def test_value_errors_become_error_notices() -> None:
    """Each value.errors[] entry becomes an "error" notice for its field, kept whole."""
    payload = load("value_errors.json")
    parsed = parse_payload(payload)
    assert parsed.notices == [Notice("messages", "error", None, first_value(payload)["errors"][0])]


def test_other_fields_become_field_notices() -> None:
    """A change field we do not read is kept whole as a "field" notice."""
    payload = load("account_update.json")
    payload["entry"][0]["changes"][0]["field"] = "business_capability_update"
    parsed = parse_payload(payload)
    assert parsed.notices == [Notice("business_capability_update", "field", None, first_value(payload))]
    assert (parsed.messages, parsed.statuses, parsed.preferences, parsed.lifecycle) == ([], [], [], [])


# Contacts and who sent what ---------------------------------------------------------------------------


def test_username_only_contact_is_matched_by_user_id() -> None:
    """A user known only by username matches its message through from_user_id and gets no wa_id."""
    parsed = parse_payload(load("username_only.json"))
    assert parsed.notices == []
    assert parsed.contacts == [ContactInfo(None, USER_ID, "Sheena", "@sheena.plants")]
    [message] = parsed.messages
    assert (message.wa_id, message.user_id, message.profile_name) == (None, USER_ID, "Sheena")
    [update] = parsed.statuses
    assert (update.recipient_id, update.recipient_user_id) == (None, USER_ID)


def test_message_without_sender_ids_uses_the_only_contact() -> None:
    """A message with neither from nor from_user_id takes the value's only contact."""
    payload = load("username_only.json")
    del first_value(payload)["messages"][0]["from_user_id"]
    message = only_message_of(payload)
    assert (message.wa_id, message.user_id, message.profile_name) == (None, USER_ID, "Sheena")


def test_message_without_any_sender_is_a_notice() -> None:
    """A message with neither from nor from_user_id, and no single contact to take them from, is a notice."""
    payload = load("text.json")
    value = first_value(payload)
    del value["contacts"], value["messages"][0]["from"]
    parsed = parse_payload(payload)
    assert parsed.messages == []
    assert parsed.notices == [
        Notice(
            "messages",
            "unparsed",
            f"{FIRST}.messages[0]: has neither 'from' nor 'from_user_id', and no single contact to take them from",
            value["messages"][0],
        )
    ]


def test_message_matched_by_user_id_gains_the_contacts_wa_id() -> None:
    """A message matched by from_user_id takes the contact's wa_id when it has no from."""
    payload = load("username_only.json")
    first_value(payload)["contacts"] = [
        {"profile": {"name": "Alex"}, "wa_id": "447700900123"},
        {"profile": {"name": "Sheena"}, "wa_id": SHEENA, "user_id": USER_ID},
    ]
    message = only_message_of(payload)
    assert (message.wa_id, message.user_id, message.profile_name) == (SHEENA, USER_ID, "Sheena")


def test_unmatched_message_among_several_contacts_has_no_profile() -> None:
    """With several contacts and none matching, a message gets no profile rather than a guess."""
    payload = load("text.json")
    first_value(payload)["contacts"].append({"profile": {"name": "Alex"}, "wa_id": "447700900123"})
    first_value(payload)["messages"][0]["from"] = "4915112345678"
    message = only_message_of(payload)
    assert (message.wa_id, message.profile_name) == ("4915112345678", None)


def test_numeric_ids_are_read_as_strings() -> None:
    """Ids sent as JSON numbers (as in Meta's group examples) are read as digit strings."""
    payload = load("text.json")
    first_value(payload)["messages"][0]["from"] = 16505551234
    first_value(payload)["metadata"]["phone_number_id"] = 106540352242922
    message = only_message_of(payload)
    assert (message.wa_id, message.phone_number_id, message.profile_name) == (
        SHEENA,
        PHONE_NUMBER_ID,
        "Sheena Nelson",
    )


def only_message_of(payload: dict[str, Any]) -> InboundMessage:
    """Parse a payload that must hold exactly one message, whatever else it holds."""
    [message] = parse_payload(payload).messages
    return message


# Batches and the future -------------------------------------------------------------------------------


def test_batch_keeps_every_update_in_order_and_matches_each_sender() -> None:
    """A batch of several entries and changes yields every update, in order, each with its own sender."""
    parsed = parse_payload(load("batch.json"))
    assert kinds(parsed) == [
        ("message", "text"),
        ("message", "text"),
        ("message", "image"),
        ("status", "sent"),
        ("status", "delivered"),
        ("status", "read"),
        ("preference", "stop"),
        ("lifecycle", "template_status"),
    ]
    assert [(m.wa_id, m.profile_name, m.text) for m in parsed.messages] == [
        (SHEENA, "Sheena Nelson", "First"),
        ("447700900123", "Alex Kim", "Order 1234 please"),
        (SHEENA, "Sheena Nelson", "Second"),
    ]
    assert [c.name for c in parsed.contacts] == ["Sheena Nelson", "Alex Kim", "Alex Kim"]
    assert parsed.preferences[0].wa_id == "447700900123"


def test_thousand_updates_parse_one_for_one() -> None:
    """A 1,000-message POST yields 1,000 messages, in order (its speed is `bot bench webhook`'s to measure)."""
    payload = load("text.json")
    template = first_value(payload)["messages"][0]
    first_value(payload)["messages"] = [dict(template, id=f"wamid.{i}") for i in range(1000)]
    parsed = parse_payload(json.dumps(payload).encode())
    assert [m.wamid for m in parsed.messages] == [f"wamid.{i}" for i in range(1000)]


def test_unknown_future_fields_and_types_are_kept() -> None:
    """Future message types, statuses, value keys, fields and envelope keys are kept, never dropped."""
    payload = load("future.json")
    parsed = parse_payload(payload)
    assert kinds(parsed) == [
        ("message", "poll_response"),
        ("message", "text"),
        ("status", "queued_for_future"),
        ("field", "messages"),
        ("field", "calls"),
    ]
    poll, text = parsed.messages
    assert (poll.text, poll.raw["some_future_flag"], poll.profile_name) == (None, True, "Sheena Nelson")
    assert (text.text, text.raw["mood"]) == ("still text", "happy")
    assert parsed.statuses[0].raw["future_detail"] == {"x": 1}
    assert parsed.notices[0].reason == f"{FIRST}: unknown keys 'groups'"
    assert parsed.notices[0].raw["groups"] == first_value(payload)["groups"]


def test_other_object_is_recorded_not_refused() -> None:
    """An envelope for another object is parsed and its object recorded, not refused."""
    parsed = parse_payload({"object": "instagram", "entry": []})
    assert parsed == ParsedPayload([], [], [], [], [], object="instagram")


# Items we cannot read ---------------------------------------------------------------------------------


def _drop(key: str) -> Any:
    """Make an edit that removes ``key`` from an item."""
    return lambda item: item.pop(key)


@pytest.mark.parametrize(
    ("list_key", "edit", "reason"),
    [
        ("messages", _drop("id"), "messages[0]: missing 'id'"),
        ("messages", _drop("type"), "messages[0]: missing 'type'"),
        ("messages", _drop("timestamp"), "messages[0]: missing 'timestamp'"),
        ("messages", lambda m: m.update(timestamp="soon"), "messages[0]: 'timestamp' must be Unix seconds, got 'soon'"),
        (
            "messages",
            lambda m: m.update(timestamp="1.5e9"),
            "messages[0]: 'timestamp' must be Unix seconds, got '1.5e9'",
        ),
        ("messages", lambda m: m.update(id=""), "messages[0]: 'id' must be a string of 1 to 128 characters, got ''"),
        ("messages", lambda m: m.update(id=7), "messages[0]: 'id' must be a string of 1 to 128 characters, got 7"),
        ("messages", lambda m: m.update(type=["text"]), "messages[0]: 'type' must be a non-empty string, got list"),
        ("contacts", lambda c: c.pop("wa_id"), "contacts[0]: has neither 'wa_id' nor 'user_id'"),
        (
            "messages",
            lambda m: m.update({"from": "3" * 40}),
            "messages[0]: 'from' must be a phone number of 1 to 20 characters, got str",
        ),
        (
            "messages",
            lambda m: m.update({"from": ["16505551234"]}),
            "messages[0]: 'from' must be a phone number of 1 to 20 characters, got list",
        ),
        (
            "messages",
            lambda m: m.update({"from_user_id": {}}),
            "messages[0]: 'from_user_id' must be a user id of 1 to 128 characters, got object",
        ),
    ],
)
def test_unreadable_item_becomes_unparsed_notice_with_its_path(list_key: str, edit: Any, reason: str) -> None:
    """An item that cannot be read becomes an "unparsed" notice naming its JSON path, and is kept whole."""
    payload = load("text.json")
    item = first_value(payload)[list_key][0]
    edit(item)
    parsed = parse_payload(payload)
    named = SHEENA if item.get("from") == SHEENA else None  # whose it is, for erasure
    assert [n for n in parsed.notices if n.kind == "unparsed"] == [
        Notice("messages", "unparsed", f"{FIRST}.{reason}", item, named)
    ]


@pytest.mark.parametrize(
    ("name", "list_key", "edit", "reason"),
    [
        ("status_sent.json", "statuses", _drop("status"), "statuses[0]: missing 'status'"),
        ("status_sent.json", "statuses", _drop("id"), "statuses[0]: missing 'id'"),
        (
            "status_sent.json",
            "statuses",
            lambda s: s.update(timestamp=None),
            "statuses[0]: 'timestamp' must be Unix seconds, got None",
        ),
        (
            "user_preferences_stop.json",
            "user_preferences",
            _drop("category"),
            "user_preferences[0]: missing 'category'",
        ),
        ("user_preferences_stop.json", "user_preferences", _drop("value"), "user_preferences[0]: missing 'value'"),
        (
            "user_preferences_stop.json",
            "user_preferences",
            _drop("wa_id"),
            "user_preferences[0]: has neither 'wa_id' nor 'user_id'",
        ),
    ],
)
def test_unreadable_status_or_preference_becomes_unparsed_notice(
    name: str, list_key: str, edit: Any, reason: str
) -> None:
    """A status or preference missing what identifies it becomes an "unparsed" notice with its path."""
    payload = load(name)
    item = first_value(payload)[list_key][0]
    edit(item)
    parsed = parse_payload(payload)
    assert [(n.kind, n.reason, n.raw) for n in parsed.notices] == [("unparsed", f"{FIRST}.{reason}", item)]
    assert (parsed.statuses, parsed.preferences) == ([], [])


def test_one_bad_message_does_not_stop_the_others() -> None:
    """A message that is not an object is noted and the messages around it are still read."""
    payload = load("batch.json")
    messages = first_value(payload)["messages"]
    messages.insert(1, "oops")
    parsed = parse_payload(payload)
    assert [m.text for m in parsed.messages] == ["First", "Order 1234 please", "Second"]
    [notice] = [n for n in parsed.notices if n.kind == "unparsed"]
    assert notice == Notice(
        "messages", "unparsed", f"{FIRST}.messages[1]: must be an object, got str", {"value": "oops"}
    )


@pytest.mark.parametrize(
    ("key", "bad", "reason"),
    [
        ("messages", {"id": "x"}, f"{FIRST}.messages must be a list, got object"),
        ("statuses", "none", f"{FIRST}.statuses must be a list, got str"),
        ("contacts", 3, f"{FIRST}.contacts must be a list, got int"),
        ("errors", [None], f"{FIRST}.errors[0]: must be an object, got null"),
    ],
)
def test_misshapen_list_in_a_value_is_noted(key: str, bad: Any, reason: str) -> None:
    """A value list that is not a list, or holds a non-object, is noted with its path and nothing else is lost."""
    payload = load("text.json")
    first_value(payload)[key] = bad
    parsed = parse_payload(payload)
    assert [(n.kind, n.reason) for n in parsed.notices] == [("unparsed", reason)]


def test_change_without_field_is_noted() -> None:
    """A change whose field is missing is kept whole as an "unparsed" notice."""
    payload = load("text.json")
    change = payload["entry"][0]["changes"][0]
    del change["field"]
    parsed = parse_payload(payload)
    assert parsed.notices == [Notice("", "unparsed", "entry[0].changes[0]: missing 'field'", change)]
    assert parsed.messages == []


# Entries and changes we cannot read -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "field", "reason", "raw"),
    [
        (1, "", "entry[1] must be an object, got int", {"value": 1}),
        ({"id": "1"}, "", "entry[1]: missing 'changes'", {"id": "1"}),
        ({"changes": {}}, "", "entry[1].changes must be a list, got object", {"changes": {}}),
        ({"changes": [[]]}, "", "entry[1].changes[0] must be an object, got list", {"value": []}),
        (
            {"changes": [{"field": "messages"}]}, "messages",
            "entry[1].changes[0]: missing 'value'", {"field": "messages"},
        ),
        ({"changes": [{"value": "x"}]}, "", "entry[1].changes[0].value must be an object, got str", {"value": "x"}),
        (
            {"changes": [{"field": "messages", "value": None}]}, "messages",
            "entry[1].changes[0].value must be an object, got null", {"field": "messages", "value": None},
        ),
    ],
)  # fmt: skip
def test_unreadable_entry_or_change_becomes_a_notice_and_the_others_are_read(
    bad: Any, field: str, reason: str, raw: dict[str, Any]
) -> None:
    """An entry or change that cannot be read, between good ones, is one "unparsed" notice naming its path."""
    payload = load("text.json")
    good = payload["entry"][0]
    payload["entry"] = [good, bad, copy.deepcopy(good)]
    parsed = parse_payload(payload)
    assert [m.text for m in parsed.messages] == ["Hello, is the shop open on Sunday?"] * 2
    assert parsed.notices == [Notice(field, "unparsed", reason, raw)]
    assert unreadable_paths(parsed) == [re.split(r": | must be ", reason)[0]]


# Bodies that are not a Meta envelope ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body is not JSON: Expecting value: line 1 column 1 (char 0)"),
        ("{", "body is not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"\xff", "body is not JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        (
            "[" * 100_000,
            "body is not JSON: maximum recursion depth exceeded while decoding a JSON array from a unicode string",
        ),
        (b"[]", "body must be a JSON object, got list"),
        ("null", "body must be a JSON object, got null"),
        (42, "body must be a JSON object, got int"),
        ({}, "missing 'entry'"),
        ({"object": "whatsapp_business_account", "entry": "x"}, "entry must be a list, got str"),
        ({"entry": None}, "entry must be a list, got null"),
        ({"entry": {"changes": []}}, "entry must be a list, got object"),
    ],
)
def test_malformed_envelope_is_refused_with_a_precise_message(body: Any, message: str) -> None:
    """A body that is not JSON, not an object, or has no list of entries is refused precisely, and only it is."""
    with pytest.raises(MalformedPayload) as caught:
        parse_payload(body)
    assert caught.value.message == message


def test_malformed_payload_is_a_validation_error() -> None:
    """MalformedPayload sits under ValidationError, so the HTTP edge answers it as a bad request."""
    with pytest.raises(ValidationError):
        parse_payload(b"not json")


# Anything at all: only MalformedPayload may escape ----------------------------------------------------

KEYS = [
    "object", "entry", "changes", "value", "field", "metadata", "phone_number_id", "contacts", "profile",
    "name", "username", "wa_id", "user_id", "messages", "statuses", "errors", "user_preferences", "id",
    "from", "from_user_id", "timestamp", "type", "text", "body", "interactive", "button_reply", "title",
    "button", "payload", "location", "reaction", "emoji", "context", "referral", "status", "pricing",
    "conversation", "recipient_id", "category",
]  # fmt: skip
WORDS = ["messages", "user_preferences", "text", "interactive", "button_reply", "location", "1750000000", "", "x"]
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(WORDS)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=40,
)
ENVELOPES = st.fixed_dictionaries(
    {
        "object": SCALARS,
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {"field": SCALARS, "value": st.dictionaries(st.sampled_from(KEYS), JSONISH, max_size=6)}
                        ),
                        max_size=3,
                    )
                }
            ),
            max_size=3,
        ),
    }
)
SAMPLES = sorted(PAYLOADS.glob("*.json")) + sorted(OPENAPI_EXAMPLES)
ITEM_LISTS = {
    "messages": ("contacts", "messages", "statuses", "errors"),
    "user_preferences": ("contacts", "user_preferences", "errors"),
}
ITEM_REASON = re.compile(r"\.(contacts|messages|statuses|user_preferences|errors)\[\d+\]: ")
# An entry or a change that could not be read at all, as the parser says so.
PART_REASON = re.compile(r"entry\[\d+\](\.changes(\[\d+\](\.value)?)?)?(: missing '(changes|value)'| must be )")
FUZZ = settings(database=None, deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


def parse_or_refuse(data: Any) -> ParsedPayload | None:
    """Parse anything, allowing MalformedPayload as the only exception, and check the result's invariants."""
    try:
        parsed = parse_payload(data)
    except MalformedPayload:
        return None
    items: list[InboundMessage | StatusUpdate] = [*parsed.messages, *parsed.statuses]
    for item in items:
        assert item.timestamp.tzinfo is UTC
        assert isinstance(item.raw, dict)
    assert all(p.timestamp is None or p.timestamp.tzinfo is UTC for p in parsed.preferences)
    for notice in parsed.notices:
        assert notice.kind in {"error", "field", "unparsed", "flow_reply"}  # flow_reply: an unreadable Flow answer
        assert isinstance(notice.raw, dict)
        assert notice.kind != "unparsed" or (notice.reason or "").startswith("entry[")
    return parsed


def items_listed(body: dict[str, Any]) -> int:
    """Count the parts of an envelope that must each be read or noted.

    An entry without a list of changes, or a change without an object for its value, is one part; in a
    readable change of a field we read, each item of the lists we read is one.
    """
    count = 0
    for entry in body["entry"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("changes"), list)):
            count += 1
            continue
        for change in entry["changes"]:
            if not (isinstance(change, dict) and isinstance(change.get("value"), dict)):
                count += 1
                continue
            name = change.get("field")
            for key in ITEM_LISTS.get(name, ()) if isinstance(name, str) else ():
                items = change["value"].get(key)
                count += len(items) if isinstance(items, list) else 0
    return count


def items_accounted(parsed: ParsedPayload) -> int:
    """Count the parts a parse produced, read or noted."""
    noted = sum(
        1
        for n in parsed.notices
        if n.kind == "error"
        or (n.kind == "unparsed" and (ITEM_REASON.search(n.reason or "") or PART_REASON.match(n.reason or "")))
    )
    return len(parsed.contacts) + len(parsed.messages) + len(parsed.statuses) + len(parsed.preferences) + noted


@FUZZ
@given(st.one_of(JSONISH, ENVELOPES, st.binary(max_size=64), st.text(max_size=64)))
def test_random_input_only_ever_raises_malformed_payload(data: Any) -> None:
    """Any JSON-ish value, envelope-shaped or not, parses or raises MalformedPayload, and no item is lost."""
    parsed = parse_or_refuse(data)
    if parsed is not None and isinstance(data, dict):
        assert items_accounted(parsed) == items_listed(data)


def paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """List the path to every node of a decoded JSON document."""
    found = [here]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.extend(paths(child, (*here, key)))
    return found


def mutate(doc: Any, data: st.DataObject, values: st.SearchStrategy[Any] = JSONISH) -> Any:
    """Replace (with one of `values`), delete or duplicate one node of a document, chosen by hypothesis."""
    path = data.draw(st.sampled_from(paths(doc)))
    if not path:
        return data.draw(values)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
    if action == "replace":
        parent[path[-1]] = data.draw(values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, list):  # "duplicate" leaves an object's key alone
        parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
    return doc


@FUZZ
@given(st.sampled_from(SAMPLES), st.integers(min_value=1, max_value=4), st.data())
def test_mutated_valid_payload_only_ever_raises_malformed_payload(
    sample: Path | str, rounds: int, data: st.DataObject
) -> None:
    """A valid payload with random parts replaced, deleted or duplicated parses or raises MalformedPayload."""
    doc: Any = load(sample.name) if isinstance(sample, Path) else copy.deepcopy(OPENAPI_EXAMPLES[sample])
    for _ in range(rounds):
        doc = mutate(doc, data)
    parsed = parse_or_refuse(doc)
    if parsed is not None:
        assert items_accounted(parsed) == items_listed(doc)


def test_every_sample_payload_parses_without_unparsed_notices() -> None:
    """Every sample under tests/payloads parses with nothing unparsed and accounts for every item."""
    for path in sorted(PAYLOADS.glob("*.json")):
        payload = load(path.name)
        parsed = parse_payload(payload)
        assert [n.reason for n in parsed.notices if n.kind == "unparsed"] == [], path.name
        assert items_accounted(parsed) == items_listed(payload), path.name


def test_result_values_are_frozen() -> None:
    """Parsed values are frozen, so handlers cannot change what was received."""
    message = only_message(load("text.json"))
    with pytest.raises(AttributeError):
        message.text = "changed"  # type: ignore[misc]


def _broken_change() -> st.SearchStrategy[Any]:
    """A `changes[]` item no reader can take: not an object, or an object without an object for its value."""
    not_object = SCALARS | st.lists(JSONISH, max_size=3)
    return st.one_of(
        not_object,
        st.fixed_dictionaries({}, optional={"field": SCALARS}),
        st.fixed_dictionaries({"value": not_object}, optional={"field": SCALARS}),
    )


BROKEN_ENTRIES = st.one_of(
    SCALARS,
    st.lists(JSONISH, max_size=3),
    st.fixed_dictionaries({"id": st.just("102290129340398")}),
    st.fixed_dictionaries({"changes": SCALARS | st.dictionaries(st.text(max_size=6), JSONISH, max_size=3)}),
    st.fixed_dictionaries({"changes": st.lists(_broken_change(), min_size=1, max_size=1)}),
)


def _notices_without_paths(parsed: ParsedPayload) -> list[str]:
    """A parse's notices, comparable when entries moved: without the paths in their reasons."""
    return sorted(json.dumps([n.field, n.kind, n.raw], sort_keys=True, default=repr) for n in parsed.notices)


@FUZZ
@given(
    st.sampled_from(sorted(p.name for p in PAYLOADS.glob("*.json"))),
    st.lists(st.integers(0, 3), min_size=1, max_size=3),
    st.data(),
)
def test_unreadable_entries_anywhere_cost_nothing_else(sample: str, places: list[int], data: st.DataObject) -> None:
    """Entries no reader can take, put anywhere among good ones, add one notice each and change nothing else."""
    payload = load(sample)
    before = parse_payload(payload)
    broken = [data.draw(BROKEN_ENTRIES) for _ in places]
    for place, entry in zip(places, broken, strict=True):
        payload["entry"].insert(min(place, len(payload["entry"])), entry)
    after = parse_payload(payload)
    assert (after.messages, after.statuses, after.preferences, after.contacts) == (
        before.messages, before.statuses, before.preferences, before.contacts
    )  # fmt: skip
    extra = list(_notices_without_paths(after))
    for notice in _notices_without_paths(before):
        extra.remove(notice)
    assert len(extra) == len(broken)
    assert len(unreadable_paths(after)) == len(unreadable_paths(before)) + len(broken)
