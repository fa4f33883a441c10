"""The sandbox's template review as Meta's: the rules of a verdict, the templates held, the webhooks that tell it.

A submitted template is PENDING, then after `delay` seconds APPROVED or REJECTED, as Meta decides within
minutes. Rejected: a placeholder Meta cannot read (`{{ }}` without a lower-case name or number) or a body
that starts or ends with one, with Meta's reason and recommendation. Re-categorised: a "utility"
template that reads as promotional (the words `bot check` warns about) is approved as MARKETING, and a
`template_category_update` webhook says so, as Meta has done at approval since April 2025.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from bot.message_templates.rules import PROMOTIONAL

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_NAME = re.compile(r"[a-z0-9_]{1,512}")
_PARAMETER = re.compile(r"[a-z][a-z0-9_]*|[0-9]+")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")


@dataclass(frozen=True)
class Verdict:
    """Meta's decision on one template: its status and category, and why when it rejects it."""

    status: str
    category: str
    reason: str = "NONE"
    rejection: dict[str, str] | None = None


def review(document: dict[str, Any]) -> Verdict:
    """Meta's verdict on a template-creation document (checked already to have a name, category and components)."""
    category = str(document.get("category", "")).upper()
    texts = [c.get("text") for c in document.get("components", []) if isinstance(c, dict)]
    body = next((c.get("text") for c in document["components"] if isinstance(c, dict) and c.get("type") == "BODY"), "")
    for text in (t for t in texts if isinstance(t, str)):
        bad = [p for p in _PLACEHOLDER.findall(text) if not _PARAMETER.fullmatch(p)]
        if bad:
            why = f"The placeholder {{{{{bad[0]}}}}} is not a lower-case name or a number"
            return _rejected(category, why, "Name each variable in lower case, like {{customer_name}}")
    stripped = body.strip() if isinstance(body, str) else ""
    if stripped.startswith("{{") or stripped.endswith("}}"):
        why = "Variable parameters are not allowed at the start or end of the template body"
        return _rejected(category, why, "Add text before the first variable and after the last")
    if category == "UTILITY" and any(PROMOTIONAL.search(t) for t in texts if isinstance(t, str)):
        return Verdict("APPROVED", "MARKETING")  # promotional content: Meta approves it as marketing
    return Verdict("APPROVED", category)


def _rejected(category: str, why: str, advice: str) -> Verdict:
    return Verdict("REJECTED", category, "INVALID_FORMAT", {"reason": why, "recommendation": advice})


def problem(document: Any) -> str | None:
    """What a submission lacks for Meta to take it at all, or None."""
    if not isinstance(document, dict):
        return "the body must be a JSON object"
    name, language = document.get("name"), document.get("language")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "Param name must be lower case letters, digits and underscores, at most 512"
    if not isinstance(language, str) or not language:
        return "Param language is required"
    if str(document.get("category", "")).upper() not in CATEGORIES:
        return f"Param category must be one of {', '.join(CATEGORIES)}"
    components = document.get("components")
    if not isinstance(components, list) or not any(isinstance(c, dict) and c.get("type") == "BODY" for c in components):
        return "Param components must be a list with a BODY"
    return None


@dataclass
class HeldTemplate:
    """One template as the sandbox's Meta holds it."""

    id: str
    name: str
    language: str
    category: str
    components: list[Any]
    status: str = "PENDING"
    reason: str = "NONE"
    previous_category: str | None = None

    def as_json(self) -> dict[str, Any]:
        found = {"id": self.id, "name": self.name, "language": self.language, "status": self.status,
                 "category": self.category, "components": self.components}  # fmt: skip
        if self.previous_category:
            found["previous_category"] = self.previous_category
        if self.status == "REJECTED":
            found["rejected_reason"] = self.reason
        return found


@dataclass
class Reviews:
    """The templates the sandbox's Meta holds, by id and by (name, language); reviewed `delay` s after submission."""

    delay: float = 1.0
    by_id: dict[str, HeldTemplate] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_689_556_908_129_800))

    def find(self, name: str, language: str) -> HeldTemplate | None:
        return next((t for t in self.by_id.values() if (t.name, t.language) == (name, language)), None)

    def category(self, name: str) -> str | None:
        """The category Meta gave a template of this name (the latest reviewed), lower case; None if never reviewed."""
        held = [t for t in self.by_id.values() if t.name == name and t.status == "APPROVED"]
        return held[-1].category.lower() if held else None

    def submit(self, document: dict[str, Any]) -> HeldTemplate:
        held = HeldTemplate(
            str(next(self._ids)), document["name"], document["language"], str(document["category"]).upper(),
            list(document["components"]),
        )  # fmt: skip
        self.by_id[held.id] = held
        return held

    def decide(self, held: HeldTemplate) -> Verdict:
        """Review a held template now: its status and category change as the verdict says."""
        verdict = review({"category": held.category, "components": held.components})
        if verdict.category != held.category:
            held.previous_category = held.category
        held.status, held.category, held.reason = verdict.status, verdict.category, verdict.reason
        return verdict


def verdict_webhooks(account_id: str, held: HeldTemplate, verdict: Verdict, time: int) -> list[dict[str, Any]]:
    """The webhooks Meta sends for a verdict: the status, and the category change when it re-categorised."""
    value: dict[str, Any] = {
        "event": verdict.status, "message_template_id": int(held.id), "message_template_name": held.name,
        "message_template_language": held.language, "reason": verdict.reason,
        "message_template_category": verdict.category,
    }  # fmt: skip
    if verdict.rejection is not None:
        value["rejection_info"] = verdict.rejection
    found = [_envelope(account_id, "message_template_status_update", value, time)]
    if held.previous_category and verdict.status == "APPROVED":
        change = {"message_template_id": int(held.id), "message_template_name": held.name,
                  "message_template_language": held.language, "previous_category": held.previous_category,
                  "new_category": verdict.category}  # fmt: skip
        found.append(_envelope(account_id, "template_category_update", change, time))
    return found


def _envelope(account_id: str, field_name: str, value: dict[str, Any], time: int) -> dict[str, Any]:
    entry = {"id": account_id, "time": time, "changes": [{"field": field_name, "value": value}]}
    return {"object": "whatsapp_business_account", "entry": [entry]}


SANDBOX_REVIEWS: Final = web.AppKey("sandbox_reviews", Reviews)
