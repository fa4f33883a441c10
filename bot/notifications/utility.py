"""Any utility template to one contact, the pure part: the request, its checks, its key and its send body.

`NotificationService.notify_many` checks and renders every request of a batch here, without I/O, and
then stores the ready ones with a few statements for the whole batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.errors import NotFound, TemplateNotApproved, ValidationError
from bot.message_templates.library import MessageTemplate, Templates, to_cloud_api
from storage.lifecycle import refusal
from storage.models import TemplateStatusBase
from storage.outbox import NewMessage


@dataclass(frozen=True)
class NotificationRequest:
    """Any utility template to one contact, now or at `send_at`."""

    wa_id: str
    template: str
    parameters: Mapping[str, str]
    send_at: datetime | None = None
    idempotency_key: str | None = None
    language: str | None = None
    urgent: bool = False  # sent even in quiet hours (a payment confirmation the customer waits for)
    phone_number_id: str | None = None  # the business number it goes out from; None: the default one


@dataclass(frozen=True)
class Ready:
    """A notification checked and rendered, waiting for its contact's id to become an outbox row."""

    wa_id: str
    template: MessageTemplate
    payload: dict[str, Any]
    key: str
    due_at: datetime
    urgent: bool
    phone_number_id: str | None = None

    def message(self, contact_id: int) -> NewMessage:
        return NewMessage(
            kind="utility",
            contact_id=contact_id,
            recipient=self.wa_id,
            payload=self.payload,
            due_at=self.due_at,
            template_name=self.template.name,
            template_category=self.template.category,
            idempotency_key=self.key,
            urgent=self.urgent,
            phone_number_id=self.phone_number_id,
        )


def utility_template(library: Templates, name: str, language: str | None = None) -> MessageTemplate:
    """The utility template `name`; an unknown one or one of another category is a `ValidationError`."""
    try:
        template = library.get(name, language)
    except NotFound:
        known = sorted({t.name for t in library if t.category == "utility"})
        raise ValidationError(f"no template {name!r}; the utility templates are {', '.join(known)}") from None
    if template.category != "utility":
        raise ValidationError(f"template {name!r} is {template.category}, not utility")
    return template


def ready(
    library: Templates,
    request: NotificationRequest,
    now: datetime,
    meta: Mapping[tuple[str, str], TemplateStatusBase] | None = None,
) -> Ready | ValidationError:
    """The request checked against its template (and Meta's word on it) and rendered into a send body, or why not.

    The key is `notification:` and the caller's key, or a digest of the content when it gave none.
    """
    try:
        template = utility_template(library, request.template, request.language)
        if (refused := refusal((meta or {}).get((template.name, template.language)))) is not None:
            raise TemplateNotApproved(refused)
        missing = [name for name in template.variables if name not in request.parameters]
        if missing:
            raise ValidationError(f"parameters lack {', '.join(missing)} for template {template.name!r}")
        payload = to_cloud_api(template, request.wa_id, request.parameters, fits=True)
    except ValidationError as exc:
        return exc
    due = max(request.send_at, now) if request.send_at else now
    key = f"notification:{request.idempotency_key or digest(request)}"
    return Ready(request.wa_id, template, payload, key, due, request.urgent, request.phone_number_id)


def digest(request: NotificationRequest) -> str:
    """A key from the content, so a retried call without a key of its own is still queued once."""
    content = {
        "wa_id": request.wa_id,
        "template": request.template,
        "language": request.language,
        "parameters": dict(request.parameters),
        "send_at": request.send_at.isoformat() if request.send_at else None,
    }
    if request.phone_number_id is not None:  # the same notice from two numbers is two notices
        content["phone_number_id"] = request.phone_number_id
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]
