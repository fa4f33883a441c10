"""Meta's lifecycle webhooks read into plain values: template status, category and quality, number quality, account.

These fields come from the business account, not from a customer: `message_template_status_update`
(approved, rejected, paused, disabled ...), `template_category_update` (Meta moved a template to another
category, or will), `message_template_quality_update`, `phone_number_quality_update` (the messaging limit
and the number's quality) and `account_update` (violations, bans, restrictions). Each change is read into
one `storage.lifecycle.Report`, the value storage keeps; a value that lacks what its kind needs answers
why, and the webhook parser keeps it as an "unparsed" notice. Keys Meta adds later stay in `raw`, which
is stored whole.

https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from storage.lifecycle import Report

# Change fields read here, and the kind each becomes.
KINDS: dict[str, str] = {
    "message_template_status_update": "template_status",
    "template_category_update": "template_category",
    "message_template_quality_update": "template_quality",
    "phone_number_quality_update": "number_quality",
    "account_update": "account",
}
_TEXT = 512  # the longest value kept in a column; the whole value stays in `raw`
# Meta's messaging-limit event words that say how the number's quality moved, when no rating is given:
# flagged means the quality fell to low (red), unflagged that it recovered.
# https://developers.facebook.com/documentation/business-messaging/whatsapp/messaging-limits
_QUALITY_OF_EVENT = {"FLAGGED": "RED", "UNFLAGGED": "GREEN"}
QUALITY_RATINGS = ("GREEN", "YELLOW", "RED")
# Meta's messaging-limit tiers as users per rolling 24 h (None: unlimited); TIER_NOT_SET and others say nothing.
TIER_LIMITS: dict[str, int | None] = {
    "TIER_50": 50, "TIER_250": 250, "TIER_1K": 1_000, "TIER_2K": 2_000, "TIER_10K": 10_000,
    "TIER_100K": 100_000, "TIER_UNLIMITED": None,
}  # fmt: skip


def read_change(field: str, value: dict[str, Any], account_id: str | None, at: datetime | None) -> Report | str:
    """Read one lifecycle change's value, or say why it cannot be read."""
    kind = KINDS[field]
    if kind == "number_quality":
        return _number(value, account_id, at)
    if kind == "account":
        return _account(value, account_id, at)
    name, language = _text(value.get("message_template_name")), _text(value.get("message_template_language"))
    if name is None:
        return _bad(value, "message_template_name", "a non-empty string")
    if language is None:
        return _bad(value, "message_template_language", "a non-empty string")
    common: dict[str, Any] = {
        "subject": f"{name}:{language}", "account_id": account_id, "template_name": name,
        "template_language": language, "template_id": _id(value.get("message_template_id")), "at": at, "raw": value,
    }  # fmt: skip
    if kind == "template_status":
        event = _upper(value.get("event"))
        if event is None:
            return _bad(value, "event", "a non-empty string")
        return Report(kind, event, old_value=None, new_value=event, reason=_status_reason(value), **common)
    if kind == "template_quality":
        new = _upper(value.get("new_quality_score"))
        if new is None:
            return _bad(value, "new_quality_score", "a non-empty string")
        old = _upper(value.get("previous_quality_score"))
        return Report(kind, None, old_value=old, new_value=new, reason=None, **common)
    return _category(value, common)


def _category(value: dict[str, Any], common: dict[str, Any]) -> Report | str:
    """A category change done (`previous_category` → `new_category`), or one Meta announces (`correct_category`)."""
    new, previous, correct = (_upper(value.get(k)) for k in ("new_category", "previous_category", "correct_category"))
    if new is None:
        return _bad(value, "new_category", "a non-empty string")
    if correct is not None and previous is None:
        when = _moment(value.get("category_update_timestamp"))
        reason = f"Meta will change the category to {correct}" + (f" on {when:%Y-%m-%d}" if when else "")
        return Report("template_category_notice", None, old_value=new, new_value=correct, reason=reason, **common)
    return Report("template_category", None, old_value=previous, new_value=new, reason=None, **common)


def _number(value: dict[str, Any], account_id: str | None, at: datetime | None) -> Report | str:
    """A number's messaging limit or quality changed; Meta names the number by its display number."""
    number = _id(value.get("display_phone_number"))
    if number is None:
        return _bad(value, "display_phone_number", "a phone number")
    event = _upper(value.get("event"))
    if event is None:
        return _bad(value, "event", "a non-empty string")
    # `current_limit` and `old_limit` are going; `max_daily_conversations_per_business` replaces them.
    new = _upper(value.get("max_daily_conversations_per_business")) or _upper(value.get("current_limit"))
    rating = _upper(value.get("quality_rating"))
    quality = rating if rating in QUALITY_RATINGS else _QUALITY_OF_EVENT.get(event)
    return Report(
        "number_quality", event, subject=number, old_value=_upper(value.get("old_limit")), new_value=new,
        reason=f"quality {quality}" if quality else None, account_id=account_id, display_number=number,
        quality=quality, at=at, raw=value,
    )  # fmt: skip


def _account(value: dict[str, Any], account_id: str | None, at: datetime | None) -> Report | str:
    """Something happened to the business account: a violation, a ban, a restriction, a verification."""
    event = _upper(value.get("event"))
    if event is None:
        return _bad(value, "event", "a non-empty string")
    parts = []
    violation = value.get("violation_info")
    if isinstance(violation, dict) and (kind := _text(violation.get("violation_type"))):
        parts.append(f"violation: {kind}")
    ban = value.get("ban_info")
    if isinstance(ban, dict) and (state := _text(ban.get("waba_ban_state"))):
        parts.append(f"ban: {state}")
    restrictions = value.get("restriction_info")
    if isinstance(restrictions, list):
        kinds = [_text(r.get("restriction_type")) for r in restrictions if isinstance(r, dict)]
        if found := [k for k in kinds if k]:
            parts.append("restrictions: " + ", ".join(found))
    number = _id(value.get("phone_number"))
    return Report(
        "account", event, subject=account_id or number or "account", old_value=None, new_value=event,
        reason="; ".join(parts) or None, account_id=account_id, display_number=number, at=at, raw=value,
    )  # fmt: skip


def _status_reason(value: dict[str, Any]) -> str | None:
    """Meta's reason for a status, in words: the reason code, what a rejection found and advises, a pause's title."""
    parts = []
    code = _text(value.get("reason"))
    if code is not None and code.upper() != "NONE":
        parts.append(code)
    for key, fields in (("rejection_info", ("reason", "recommendation")), ("other_info", ("title", "description"))):
        info = value.get(key)
        if isinstance(info, dict):
            parts += [text for f in fields if (text := _text(info.get(f)))]
    return ": ".join(parts)[:_TEXT] or None


def entry_time(entry: dict[str, Any]) -> datetime | None:
    """When Meta sent an entry (`entry[].time`, Unix seconds), if it says."""
    return _moment(entry.get("time"))


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str) and value.isdecimal() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 10**12:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: Any) -> str | None:
    return value[:_TEXT] if isinstance(value, str) and value.strip() else None


def _upper(value: Any) -> str | None:
    text = _text(value)
    return text.strip().upper()[:64] if text is not None else None


def _id(value: Any) -> str | None:
    """An id or number, which Meta's samples send as strings and as numbers alike."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**30:
        return str(value)
    return value.strip()[:128] if isinstance(value, str) and value.strip() else None


def _bad(value: dict[str, Any], key: str, expected: str) -> str:
    if key not in value:
        return f"missing '{key}'"
    got = value[key]
    kind = "null" if got is None else "object" if isinstance(got, dict) else type(got).__name__
    return f"'{key}' must be {expected}, got {kind}"
