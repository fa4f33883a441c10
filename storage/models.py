"""The SQLModel tables; one row class per idea in DESIGN.md's data model.

Why one module of about 800 lines: every table, so that Alembic's autogenerate and the migrations test
see the whole schema from one import, with each table's Base class beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, Index, Table, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime

# Named constraints, so that later migrations can alter them on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


UNHANDLED = text("handled_at IS NULL AND direction = 'in'")
OUTSIDE_WINDOW = text("outside_window")
IN_A_FLOW = text("flow IS NOT NULL")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(**kw: Any) -> Any:
    return Field(default=None, sa_type=JSON, **kw)


def _when(**kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, **kw)


def _now(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


class ContactBase(SQLModel):
    """A customer, known by phone (`wa_id`, E.164 digits) and/or Meta's business-scoped `user_id`."""

    id: int | None = Field(default=None, primary_key=True)
    wa_id: str | None = Field(default=None, unique=True, max_length=20)
    user_id: str | None = Field(default=None, unique=True, max_length=128)
    name: str | None = None
    language: str | None = Field(default=None, max_length=16)
    time_zone: str | None = Field(default=None, max_length=64)
    tags: list[str] | None = _json()
    last_inbound_at: datetime | None = _when()
    free_entry_point_at: datetime | None = _when()
    # Meta answered 131026 (the number cannot receive messages): nothing is sent until the customer writes.
    undeliverable_at: datetime | None = _when()
    created_at: datetime = _now()
    updated_at: datetime = _now()
    # Erased (the right to erasure): the row stays as the anchor of the consent ledger and the conversations,
    # with no number, name or user id; `pseudonym` is HMAC-SHA256 of the number under BOT_SECRET_KEY, so the
    # same number erased twice matches, and `calling_code` keeps the country the cost estimates price by.
    erased_at: datetime | None = _when()
    pseudonym: str | None = Field(default=None, max_length=64, index=True)
    calling_code: str | None = Field(default=None, max_length=3)


class Contact(ContactBase, table=True):
    """The `contact` table; hot-path reads return `ContactBase`, free of ORM instrumentation."""

    __tablename__ = "contact"


class ConversationBase(SQLModel):
    """A 24-hour conversation of one category with one contact (the seed's conversation model)."""

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id")
    category: str = Field(max_length=16, index=True)
    origin: str = Field(max_length=32)
    opened_at: datetime = Field(sa_type=UTCDateTime, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    opening_wamid: str | None = Field(default=None, max_length=128)
    # The business number (Meta's phone_number_id) it belongs to; windows and limits are per number.
    phone_number_id: str | None = Field(default=None, max_length=32)


class Conversation(ConversationBase, table=True):
    """The `conversation` table; hot-path reads return `ConversationBase`, free of ORM instrumentation."""

    __tablename__ = "conversation"
    __table_args__ = (Index("ix_conversation_contact_expires", "contact_id", "expires_at"),)


class WebhookEvent(SQLModel, table=True):
    """One webhook POST exactly as Meta sent it: Meta keeps no history, so this is the record."""

    __tablename__ = "webhook_event"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = _now(index=True)
    body: str = Field(sa_type=Text)


class MessageBase(SQLModel):
    """An inbound or outbound WhatsApp message, unique by Meta's wamid."""

    id: int | None = Field(default=None, primary_key=True)
    wamid: str = Field(unique=True, max_length=128)
    direction: str = Field(max_length=3)  # "in" | "out"
    contact_id: int = Field(foreign_key="contact.id")
    type: str = Field(max_length=32)
    text: str | None = Field(default=None, sa_type=Text)
    reply_id: str | None = Field(default=None, max_length=256)
    body: dict[str, Any] | None = _json()
    template_name: str | None = Field(default=None, max_length=512)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    category: str | None = Field(default=None, max_length=16)
    status: str = Field(default="received", max_length=16)
    sent_at: datetime | None = _when()
    delivered_at: datetime | None = _when()
    read_at: datetime | None = _when()
    failed_at: datetime | None = _when()
    error: dict[str, Any] | None = _json()
    pricing: dict[str, Any] | None = _json()
    meta_conversation: dict[str, Any] | None = _json()
    outbox_id: int | None = Field(default=None)
    webhook_event_id: int | None = Field(default=None)
    # A business-initiated template sent while the customer service window was closed: what Meta's
    # messaging-limit tier counts (unique users reached this way in a rolling 24 hours).
    outside_window: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    created_at: datetime = _now()
    handled_at: datetime | None = _when()
    # Turns that raised on this inbound message; after MAX_TURN_FAILURES it is given up on: handled, with
    # `turn_error` saying why, so that one message a bug chokes on never silences the customer for good.
    turn_failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    turn_error: str | None = Field(default=None, max_length=512)
    # The business number (Meta's phone_number_id) it belongs to; windows and limits are per number.
    phone_number_id: str | None = Field(default=None, max_length=32)


class Message(MessageBase, table=True):
    """The `message` table; hot-path reads return `MessageBase`, free of ORM instrumentation."""

    __tablename__ = "message"
    __table_args__ = (
        Index(  # the dispatcher's work queue: only unhandled inbound rows, so polling stays cheap as history grows
            "ix_message_unhandled", "contact_id", "id", sqlite_where=UNHANDLED, postgresql_where=UNHANDLED
        ),
        Index("ix_message_contact_created", "contact_id", "created_at"),
        Index(
            "ix_message_outside_window",
            "created_at",
            "contact_id",
            sqlite_where=OUTSIDE_WINDOW,
            postgresql_where=OUTSIDE_WINDOW,
        ),
    )


class MediaBase(SQLModel):
    """An inbound media message's file: queued to be fetched from Meta, then stored (or refused, or failed).

    The row is both the fetch queue (status, due time, attempts, lease) and the message's link to the
    stored file: `sha256` (hex) names the file in the media store, which keeps one copy per content.
    """

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", unique=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    kind: str = Field(max_length=16)  # image | audio | video | document | sticker
    media_id: str | None = Field(default=None, max_length=128)  # Meta's id; None once stored or given up
    declared_mime: str | None = Field(default=None, max_length=255)  # as the webhook said
    declared_sha256: str | None = Field(default=None, max_length=128)  # as the webhook said (base64 or hex)
    caption: str | None = Field(default=None, sa_type=Text)
    filename: str | None = Field(default=None, max_length=255)
    animated: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    status: str = Field(default="queued", max_length=16)  # queued | fetching | stored | refused | failed | purged
    attempts: int = 0
    due_at: datetime = _now()
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _when()
    error: str | None = Field(default=None, max_length=512)
    mime_type: str | None = Field(default=None, max_length=255)  # of the file stored
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64, index=True)  # hex, of the bytes stored
    created_at: datetime = _now()
    stored_at: datetime | None = _when()
    updated_at: datetime = _now()


class Media(MediaBase, table=True):
    """The `media` table; reads return `MediaBase`."""

    __tablename__ = "media"
    __table_args__ = (Index("ix_media_claim", "status", "due_at"),)


class MediaUploadBase(SQLModel):
    """A file of the project uploaded to Meta for `say` steps: the media id Meta answered, and when.

    Meta keeps an uploaded file 30 days; the sender uploads it again after 29, or when Meta says it no
    longer knows the id. Keyed by the file's content (SHA-256) and the business number it was uploaded for,
    so an edited file is uploaded anew and a number's id is never used for another.
    """

    id: int | None = Field(default=None, primary_key=True)
    phone_number_id: str = Field(max_length=64)
    sha256: str = Field(max_length=64)  # hex, of the file's bytes
    media_id: str = Field(max_length=128)
    mime_type: str = Field(max_length=255)
    size: int
    uploaded_at: datetime = _now()


class MediaUpload(MediaUploadBase, table=True):
    """The `media_upload` table; reads return `MediaUploadBase`."""

    __tablename__ = "media_upload"
    __table_args__ = (UniqueConstraint("phone_number_id", "sha256", name="uq_media_upload_phone_number_id"),)


class StatusEvent(SQLModel, table=True):
    """A status webhook for one of our messages; kept even before the message's wamid is recorded."""

    __tablename__ = "status_event"

    __table_args__ = (UniqueConstraint("wamid", "status", name="uq_status_event_wamid_status"),)

    id: int | None = Field(default=None, primary_key=True)
    wamid: str = Field(max_length=128, index=True)
    status: str = Field(max_length=16)
    timestamp: datetime = Field(sa_type=UTCDateTime)
    payload: dict[str, Any] = Field(sa_type=JSON)
    # The `biz_opaque_callback_data` we sent with the message (`outbox:<id>`): how a send whose answer was
    # lost (the sender died) is recognised as sent when its status arrives.
    callback: str | None = Field(default=None, max_length=512, index=True)
    webhook_event_id: int | None = None


class WebhookNotice(SQLModel, table=True):
    """Everything else a webhook carried: user preferences, error entries, template and account fields."""

    __tablename__ = "webhook_notice"

    id: int | None = Field(default=None, primary_key=True)
    webhook_event_id: int
    digest: str = Field(max_length=64, unique=True)  # of field, kind and payload: a redelivery adds nothing
    field: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=16)
    wa_id: str | None = Field(default=None, max_length=20)
    reason: str | None = Field(default=None, sa_type=Text)
    payload: dict[str, Any] = Field(sa_type=JSON)
    received_at: datetime = _now()


class SessionBase(SQLModel):
    """The state of a contact's conversation with the bot's flows."""

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", unique=True)
    flow: str | None = Field(default=None, max_length=128)
    step: str | None = Field(default=None, max_length=128)
    slots: dict[str, Any] | None = _json()
    flow_version: str | None = Field(default=None, max_length=64)
    expires_at: datetime | None = _when()
    handed_off: bool = False
    # The engine's bookkeeping: the call stack, wrong answers at this step, the page of a long list.
    state: dict[str, Any] | None = _json()
    deadline_at: datetime | None = _when(index=True)  # the waiting step's timeout, found by the sweeper
    updated_at: datetime = _now()


class Session(SessionBase, table=True):
    """The `session` table; hot-path reads return `SessionBase`, free of ORM instrumentation."""

    __tablename__ = "session"
    __table_args__ = (  # the dispatcher's timeout sweep: running flows idle past their expiry
        Index("ix_session_flow_expires", "expires_at", sqlite_where=IN_A_FLOW, postgresql_where=IN_A_FLOW),
    )


class OutboxBase(SQLModel):
    """An outgoing message before, while and after it is sent; the only way anything leaves the service."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # reply | otp | utility | marketing
    priority: int = 0
    contact_id: int = Field(foreign_key="contact.id")
    recipient: str = Field(max_length=128)
    payload: dict[str, Any] = Field(sa_type=JSON)
    template_name: str | None = Field(default=None, max_length=512)
    template_category: str | None = Field(default=None, max_length=16)
    due_at: datetime = _now()
    status: str = Field(default="queued", max_length=16)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _when()
    idempotency_key: str | None = Field(default=None, unique=True, max_length=255)
    campaign_id: int | None = None
    # What the message is about (`appointment:42`, `order:17:shipped`, `otp:9`): checked again at send
    # time, so a message whose reason went away (a cancelled appointment, a used code) is not sent.
    subject: str | None = Field(default=None, max_length=255)
    # Sent even inside quiet hours (a payment confirmation the customer is waiting for).
    urgent: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    wamid: str | None = Field(default=None, max_length=128)
    category: str | None = Field(default=None, max_length=16)
    last_error: dict[str, Any] | None = _json()
    # The business number (Meta's phone_number_id) it belongs to; windows and limits are per number.
    phone_number_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = _now()
    updated_at: datetime = _now()


class Outbox(OutboxBase, table=True):
    """The `outbox` table; hot-path reads return `OutboxBase`, free of ORM instrumentation."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_claim", "status", "due_at", "priority"),
        Index("ix_outbox_number_claim", "phone_number_id", "status", "due_at"),
        Index("ix_outbox_contact_status", "contact_id", "status"),
        Index("ix_outbox_campaign", "campaign_id", "status"),
    )


class OtpChallengeBase(SQLModel):
    """One one-time code sent to a number for a purpose: its HMAC digest, never the code.

    Keyed by the `wa_id` string rather than a contact row, so numbers never seen are paced exactly like
    known ones and nothing about a challenge tells whether the number exists.
    """

    id: int | None = Field(default=None, primary_key=True)
    wa_id: str = Field(max_length=128)
    purpose: str = Field(max_length=64)
    digest: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    used_at: datetime | None = _when()


class OtpChallenge(OtpChallengeBase, table=True):
    """The `otp_challenge` table; reads return `OtpChallengeBase`, free of ORM instrumentation."""

    __tablename__ = "otp_challenge"
    __table_args__ = (Index("ix_otp_challenge_lookup", "wa_id", "purpose", "created_at"),)


class OrderBase(SQLModel):
    """A customer's order as the business reports it; its status changes send utility templates.

    Amounts are decimal text (``"84.90"``), so neither floats nor a driver's rounding ever touch money.
    """

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=64)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    status: str = Field(default="placed", max_length=16)  # placed|confirmed|shipped|delayed|delivered|cancelled
    items: list[Any] | None = _json()
    total: str | None = Field(default=None, max_length=32)
    currency: str | None = Field(default=None, max_length=3)
    delivery_start: datetime | None = _when()
    delivery_end: datetime | None = _when()
    tracking_number: str | None = Field(default=None, max_length=128)
    delay_reason: str | None = Field(default=None, max_length=255)
    created_at: datetime = _now()
    updated_at: datetime = _now()


class Order(OrderBase, table=True):
    """The `business_order` table (``order`` is an SQL keyword); reads return `OrderBase`."""

    __tablename__ = "business_order"


class AppointmentBase(SQLModel):
    """A booked appointment; it schedules its reminder, and a reschedule moves it."""

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    service: str = Field(max_length=255)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    duration_minutes: int = 30
    status: str = Field(default="booked", max_length=16)  # booked | cancelled
    location: str = Field(max_length=255)
    revision: int = 0  # bumped by each reschedule; keys the messages a reschedule sends
    created_at: datetime = _now()
    updated_at: datetime = _now()


class Appointment(AppointmentBase, table=True):
    """The `appointment` table; reads return `AppointmentBase`."""

    __tablename__ = "appointment"


class AccountBase(SQLModel):
    """A customer's account balance and the low-balance alert's state (decimal text amounts)."""

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", unique=True)
    name: str = Field(default="account", max_length=128)
    balance: str = Field(max_length=32)
    currency: str = Field(max_length=3)
    low_threshold: str | None = Field(default=None, max_length=32)
    low_alerted: bool = False  # an alert went out for the current dip below the threshold
    low_alerts: int = 0  # how many crossings were alerted; numbers each alert's idempotency key
    updated_at: datetime = _now()


class Account(AccountBase, table=True):
    """The `account` table; reads return `AccountBase`."""

    __tablename__ = "account"


class ConsentEventBase(SQLModel):
    """One entry of the append-only consent ledger: a contact opted in to or out of a purpose, and why.

    The current state of a (contact, purpose) is its latest entry. `dedupe_key` names the fact the entry
    was recorded from (`message:<wamid>`, `preference:<digest>`, `outbox:<id>`), so a webhook Meta
    redelivers or a turn run again after a crash records it once.
    """

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id")
    purpose: str = Field(max_length=32)  # marketing
    action: str = Field(max_length=8)  # opt_in | opt_out
    source: str = Field(max_length=32)  # keyword | button | api | import | dashboard | preference | error_131050
    evidence: dict[str, Any] | None = _json()
    dedupe_key: str | None = Field(default=None, unique=True, max_length=255)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ConsentEvent(ConsentEventBase, table=True):
    """The `consent_event` table; rows are only ever inserted."""

    __tablename__ = "consent_event"
    __table_args__ = (Index("ix_consent_event_contact", "contact_id", "purpose", "id"),)


class TemplateBlockBase(SQLModel):
    """A template Meta refused (132000, 132001, 132015, 132016): not used again until a person re-enables it."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=512)
    language: str = Field(max_length=16)
    error_code: int | None = None
    reason: str = Field(sa_type=Text)
    blocked_at: datetime = Field(sa_type=UTCDateTime)


class TemplateBlock(TemplateBlockBase, table=True):
    """The `template_block` table, one row per blocked template and language."""

    __tablename__ = "template_block"
    __table_args__ = (UniqueConstraint("name", "language", name="uq_template_block_name_language"),)


class LifecycleEventBase(SQLModel):
    """A change Meta reported about the business account: a template's status, category or quality, a number's
    quality or messaging limit, the account itself; from a webhook, or from `bot templates sync`."""

    id: int | None = Field(default=None, primary_key=True)
    webhook_event_id: int | None = None
    digest: str = Field(max_length=64, unique=True)  # of what Meta said: a redelivery adds nothing
    source: str = Field(max_length=16)  # webhook | sync | push
    kind: str = Field(max_length=32)  # template_status, template_category, template_quality, number_quality, account
    event: str | None = Field(default=None, max_length=64)  # Meta's own word for it (APPROVED, FLAGGED ...)
    subject: str = Field(max_length=600)  # name:language, a display number, an account id
    old_value: str | None = Field(default=None, max_length=64)
    new_value: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, sa_type=Text)
    account_id: str | None = Field(default=None, max_length=128)
    raw: dict[str, Any] = Field(sa_type=JSON)
    occurred_at: datetime | None = _when()  # Meta's time for it, when it says
    received_at: datetime = _now()


class LifecycleEvent(LifecycleEventBase, table=True):
    """The `lifecycle_event` table; rows are only ever inserted."""

    __tablename__ = "lifecycle_event"
    __table_args__ = (Index("ix_lifecycle_event_subject", "subject", "id"),)


class TemplateStatusBase(SQLModel):
    """What Meta says of one template and language: its review status, its category, and what we last pushed."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=512)
    language: str = Field(max_length=16)
    status: str | None = Field(default=None, max_length=32)  # APPROVED, PENDING, REJECTED, PAUSED, DISABLED ...
    reason: str | None = Field(default=None, sa_type=Text)  # Meta's reason for the status, in words
    category: str | None = Field(default=None, max_length=32)  # Meta's category, lower case, as ours are
    previous_category: str | None = Field(default=None, max_length=32)
    category_changed_at: datetime | None = _when()
    meta_id: str | None = Field(default=None, max_length=128)
    content_hash: str | None = Field(default=None, max_length=64)  # of the creation JSON last pushed
    pushed_at: datetime | None = _when()
    status_at: datetime | None = _when()  # Meta's time for the status: an older report never overwrites a newer
    updated_at: datetime = _now()


class TemplateStatus(TemplateStatusBase, table=True):
    """The `template_status` table, one row per template and language Meta has told us about."""

    __tablename__ = "template_status"
    __table_args__ = (UniqueConstraint("name", "language", name="uq_template_status_name_language"),)


class NumberStateBase(SQLModel):
    """A business number's quality rating and messaging limit as Meta last reported them.

    Meta's webhook names the number by its display number; `bot templates sync` reads both ids, joining them.
    """

    id: int | None = Field(default=None, primary_key=True)
    phone_number_id: str | None = Field(default=None, max_length=64, unique=True)
    display_number: str | None = Field(default=None, max_length=32, unique=True)
    account_id: str | None = Field(default=None, max_length=128)
    quality: str | None = Field(default=None, max_length=16)  # GREEN, YELLOW, RED, UNKNOWN
    messaging_limit: str | None = Field(default=None, max_length=32)  # TIER_250, TIER_2K ... TIER_UNLIMITED
    updated_at: datetime = _now()


class NumberState(NumberStateBase, table=True):
    """The `number_state` table, one row per business number Meta reported on."""

    __tablename__ = "number_state"


class ScheduleBase(SQLModel):
    """A recurring utility notification: a cron expression in a named time zone, a template, its recipients."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=128)
    cron: str = Field(max_length=128)
    time_zone: str = Field(max_length=64)
    template: str = Field(max_length=512)
    language: str | None = Field(default=None, max_length=16)
    parameters: dict[str, Any] | None = _json()
    wa_ids: list[str] | None = _json()
    active: bool = True
    # The business number (Meta's phone_number_id) it belongs to; windows and limits are per number.
    phone_number_id: str | None = Field(default=None, max_length=32)
    next_run_at: datetime | None = _when(index=True)
    last_run_at: datetime | None = _when()
    created_at: datetime = _now()
    updated_at: datetime = _now()


class Schedule(ScheduleBase, table=True):
    """The `schedule` table."""

    __tablename__ = "schedule"


class ScheduleRunBase(SQLModel):
    """One run of a schedule; unique per (schedule, scheduled_for), so a run happens once across instances."""

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(foreign_key="schedule.id")
    scheduled_for: datetime = Field(sa_type=UTCDateTime)
    queued: int = 0
    created_at: datetime = _now()


class ScheduleRun(ScheduleRunBase, table=True):
    """The `schedule_run` table."""

    __tablename__ = "schedule_run"
    __table_args__ = (UniqueConstraint("schedule_id", "scheduled_for", name="uq_schedule_run_schedule_id"),)


class CampaignBase(SQLModel):
    """A marketing campaign: a template, an audience, per-recipient values, when it runs, and its limits."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=128)
    template: str = Field(max_length=512)
    language: str | None = Field(default=None, max_length=16)
    parameters: dict[str, Any] | None = _json()  # variable → a literal, or {"field": "name", "default": "…"}
    audience: dict[str, Any] | None = _json()  # {"tags": [...], "any_tags": [...], "languages": [...], ...}
    send_at: datetime | None = _when()  # a one-off campaign's time
    cron: str | None = Field(default=None, max_length=128)  # a recurring campaign's expression…
    time_zone: str = Field(default="UTC", max_length=64)  # …read in this zone
    next_run_at: datetime | None = _when(index=True)
    frequency_cap: int = 2  # marketing messages per contact per rolling 7 days
    rate: float | None = None  # messages per second for this campaign; None: as fast as the number allows
    flow: str | None = Field(default=None, max_length=128)  # the flow a tap on its quick reply enters
    test_numbers: list[str] | None = _json()  # the allow-list `test` sends to
    # The business number (Meta's phone_number_id) it belongs to; windows and limits are per number.
    phone_number_id: str | None = Field(default=None, max_length=32)
    state: str = Field(default="scheduled", max_length=16)  # scheduled | running | paused | completed | cancelled
    created_at: datetime = _now()
    updated_at: datetime = _now()


class Campaign(CampaignBase, table=True):
    """The `campaign` table."""

    __tablename__ = "campaign"


class CampaignRunBase(SQLModel):
    """One run of a campaign; unique per (campaign, scheduled_for), so a run happens once across instances.

    The audience is expanded into the outbox a page at a time; `cursor` is the last contact id expanded,
    so an expansion interrupted by a restart carries on where it stopped.
    """

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    scheduled_for: datetime = Field(sa_type=UTCDateTime)
    state: str = Field(default="expanding", max_length=16)  # expanding | queued | cancelled
    cursor: int = 0
    queued: int = 0
    # Send slots handed out at the campaign's rate: a recipient expected to be dropped when sent takes none.
    slots: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    created_at: datetime = _now()
    finished_at: datetime | None = _when()


class CampaignRun(CampaignRunBase, table=True):
    """The `campaign_run` table."""

    __tablename__ = "campaign_run"
    __table_args__ = (
        UniqueConstraint("campaign_id", "scheduled_for", name="uq_campaign_run_campaign_id"),
        Index("ix_campaign_run_state", "state"),
    )


class PhoneNumberBase(SQLModel):
    """A business number this deployment serves: Meta's id, its account, where its token is, and its limits.

    `tier` is Meta's messaging limit (unique users reached outside a window per rolling 24 h; None:
    unlimited); `quality` is Meta's rating (GREEN, YELLOW, RED), written by its webhooks.
    """

    id: str = Field(primary_key=True, max_length=32)  # Meta's phone_number_id
    display_number: str = Field(max_length=32)
    account_id: str | None = Field(default=None, max_length=32)  # the WhatsApp Business Account (WABA) id
    token_env: str | None = Field(default=None, max_length=128)  # the environment variable holding its token
    throughput: int = 80
    tier: int | None = None
    quality: str | None = Field(default=None, max_length=16)
    main_flow: str | None = Field(default=None, max_length=128)  # the flow its customers start in
    source: str = Field(default="api", max_length=16)  # api | file | settings: who last wrote it
    created_at: datetime = _now()
    updated_at: datetime = _now()


class PhoneNumber(PhoneNumberBase, table=True):
    """The `phone_number` table: one row per business number."""

    __tablename__ = "phone_number"


class SenderPresenceBase(SQLModel):
    """A running sender, seen lately: the senders alive share the number's throughput limit between them."""

    owner: str = Field(primary_key=True, max_length=64)
    seen_at: datetime = Field(sa_type=UTCDateTime)


class SenderPresence(SenderPresenceBase, table=True):
    """The `sender_presence` table: one row per running sender, refreshed every few seconds."""

    __tablename__ = "sender_presence"


class WrongTokenBase(SQLModel):
    """A wrong admin token, from one client (an IPv4 address or an IPv6 /64): every process counts them all."""

    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)


class WrongToken(WrongTokenBase, table=True):
    """The `wrong_token` table: rows older than the guess window are deleted as new ones come."""

    __tablename__ = "wrong_token"
    __table_args__ = (Index("ix_wrong_token_client_at", "client", "at"), Index("ix_wrong_token_at", "at"))


class DashboardSessionBase(SQLModel):
    """A dashboard login that has not ended: its id's digest (the cookie holds the id) and when it expires."""

    digest: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class DashboardSession(DashboardSessionBase, table=True):
    """The `dashboard_session` table: a row per session; logging out deletes it, so its cookie stops working."""

    __tablename__ = "dashboard_session"
    __table_args__ = (Index("ix_dashboard_session_expires_at", "expires_at"),)


class EventSubscriptionBase(SQLModel):
    """A URL of the business's that is sent the events it chose, each delivery signed with its secret."""

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_type=Text)
    events: list[str] = Field(sa_type=JSON)
    description: str | None = Field(default=None, max_length=255)
    # Kept so that deliveries can be signed (HMAC needs the key itself); shown once, when created, and
    # never again by the API, the dashboard or a log line.
    secret: str = Field(max_length=128)
    created_at: datetime = _now()


class EventSubscription(EventSubscriptionBase, table=True):
    """The `event_subscription` table."""

    __tablename__ = "event_subscription"


class EventDeliveryBase(SQLModel):
    """One event owed to one subscription: written with the change that caused it, then delivered at least once.

    `contact_id` orders a contact's events per subscription: a later one waits until the earlier is
    delivered or has failed. `replay_of` marks a copy made by a replay.
    """

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="event_subscription.id")
    event_id: str = Field(max_length=40)
    type: str = Field(max_length=32)
    contact_id: int | None = Field(default=None)
    payload: dict[str, Any] = Field(sa_type=JSON)
    status: str = Field(default="pending", max_length=16)  # pending | sending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _when()
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=255)
    replay_of: int | None = None
    created_at: datetime = _now()
    delivered_at: datetime | None = _when()


class EventDelivery(EventDeliveryBase, table=True):
    """The `event_delivery` table: the events' own queue (an outbox of events) and the delivery log's rows."""

    __tablename__ = "event_delivery"
    __table_args__ = (
        Index("ix_event_delivery_claim", "status", "id"),
        Index("ix_event_delivery_order", "subscription_id", "contact_id", "status", "id"),
        Index("ix_event_delivery_subscription", "subscription_id", "id"),
    )


class EventAttemptBase(SQLModel):
    """One try at delivering an event: when, the receiver's status code or the error, and how long it took."""

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="event_delivery.id", index=True)
    attempted_at: datetime = Field(sa_type=UTCDateTime)
    status_code: int | None = None
    latency_ms: float
    error: str | None = Field(default=None, max_length=255)


class EventAttempt(EventAttemptBase, table=True):
    """The `event_attempt` table: the delivery log."""

    __tablename__ = "event_attempt"


class InboxReadBase(SQLModel):
    """How far the business has read one customer's chat: the newest message id shown to a person, and when.

    One mark per conversation, not per dashboard user: the dashboard has one login (the admin token), and a
    chat one person has answered is read for the whole team.
    """

    contact_id: int = Field(primary_key=True, foreign_key="contact.id")
    read_id: int
    read_at: datetime = Field(sa_type=UTCDateTime)


class InboxRead(InboxReadBase, table=True):
    """The `inbox_read` table: a row per contact whose chat was opened in the inbox."""

    __tablename__ = "inbox_read"


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a model, for the set-based statements the hot paths use."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


CONTACT = table_of(Contact)
CONVERSATION = table_of(Conversation)
WEBHOOK_EVENT = table_of(WebhookEvent)
MESSAGE = table_of(Message)
MEDIA = table_of(Media)
MEDIA_UPLOAD = table_of(MediaUpload)
STATUS_EVENT = table_of(StatusEvent)
WEBHOOK_NOTICE = table_of(WebhookNotice)
SESSION = table_of(Session)
OUTBOX = table_of(Outbox)
OTP_CHALLENGE = table_of(OtpChallenge)
ORDER = table_of(Order)
APPOINTMENT = table_of(Appointment)
ACCOUNT = table_of(Account)
TEMPLATE_BLOCK = table_of(TemplateBlock)
CONSENT_EVENT = table_of(ConsentEvent)
CAMPAIGN = table_of(Campaign)
CAMPAIGN_RUN = table_of(CampaignRun)
SENDER_PRESENCE = table_of(SenderPresence)
PHONE_NUMBER = table_of(PhoneNumber)
SCHEDULE = table_of(Schedule)
SCHEDULE_RUN = table_of(ScheduleRun)
WRONG_TOKEN = table_of(WrongToken)
DASHBOARD_SESSION = table_of(DashboardSession)
EVENT_SUBSCRIPTION = table_of(EventSubscription)
EVENT_DELIVERY = table_of(EventDelivery)
EVENT_ATTEMPT = table_of(EventAttempt)
INBOX_READ = table_of(InboxRead)
LIFECYCLE_EVENT = table_of(LifecycleEvent)
TEMPLATE_STATUS = table_of(TemplateStatus)
NUMBER_STATE = table_of(NumberState)
