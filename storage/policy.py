"""What the sender reads and writes to apply WhatsApp's rules at send time, for one batch at a time.

Reads: the recipients and their open conversations, who was reached outside a customer service window
in the last 24 hours (Meta's messaging-limit tier), the templates Meta refused, and whether each
message's subject still wants it. Writes: a number Meta called undeliverable, a template Meta refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import campaign, consent, lifecycle
from storage.conversation import contacts_by_ids, last_inbound_by_number, open_conversations_for
from storage.dialect import among, insert_ignoring_conflicts
from storage.models import (
    ACCOUNT,
    APPOINTMENT,
    CONTACT,
    MESSAGE,
    ORDER,
    OTP_CHALLENGE,
    OUTSIDE_WINDOW,
    SCHEDULE,
    TEMPLATE_BLOCK,
    ContactBase,
    ConversationBase,
    NumberStateBase,
    TemplateBlockBase,
    TemplateStatusBase,
)

REACH_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Reach:
    """Unique users reached outside a customer service window in the rolling 24 hours before `now`."""

    count: int
    frees_at: datetime | None  # when the user reached longest ago drops out of the window
    contacts: frozenset[int]  # which of the batch's contacts are among them (they do not count again)


@dataclass(frozen=True)
class BatchContext:
    """Everything the send-time checks need for one claimed batch, read in one round of queries."""

    contacts: dict[int, ContactBase]
    open_conversations: dict[int, list[ConversationBase]]
    reach: Reach
    blocked: dict[tuple[str, str], TemplateBlockBase]
    unwanted: dict[str, str]  # subject → why it no longer wants its message
    marketing_consent: dict[int, str] = field(default_factory=dict)  # contact → opt_in | opt_out (latest)
    campaigns: dict[int, tuple[str, int]] = field(default_factory=dict)  # campaign → (state, frequency cap)
    marketing_this_week: dict[int, int] = field(default_factory=dict)  # contact → marketing sent in 7 days
    # (contact, business number) → the contact's last message to it in the last 24 h; read with several numbers.
    inbound_by_number: dict[tuple[int, str | None], datetime] = field(default_factory=dict)
    templates: dict[tuple[str, str], TemplateStatusBase] = field(default_factory=dict)  # Meta's word on each
    number: NumberStateBase | None = None  # the number's quality and messaging limit, as Meta last said


async def batch_context(
    conn: AsyncConnection,
    contact_ids: Sequence[int],
    subjects: Iterable[str],
    now: datetime,
    campaign_ids: Sequence[int] = (),
    marketing_ids: Sequence[int] = (),
    per_number: bool = False,
    reach_of: tuple[str, bool] | None = None,
    phone_number_id: str | None = None,
) -> BatchContext:
    """The batch's facts; consent is read only for `marketing_ids`, the contacts of rows that may be marketing.

    `per_number`: the deployment serves several numbers, so each customer's window is read per number.
    `reach_of`: (number, whether it is the default one): the tier counts only that number's users reached.
    `phone_number_id`: the sending number, whose quality and tier Meta reported (`storage.lifecycle`).
    """
    return BatchContext(
        contacts=await contacts_by_ids(conn, contact_ids),
        open_conversations=await open_conversations_for(conn, contact_ids, now),
        reach=await reach(conn, contact_ids, now, reach_of),
        blocked=await blocked_templates(conn),
        unwanted=await unwanted_subjects(conn, set(subjects), now),
        marketing_consent=await consent.states(conn, marketing_ids),
        campaigns=await campaign.states_and_caps(conn, campaign_ids),
        marketing_this_week=await campaign.marketing_sent_since(conn, contact_ids, now - campaign.WEEK)
        if campaign_ids
        else {},
        inbound_by_number=await last_inbound_by_number(conn, contact_ids, now - REACH_WINDOW) if per_number else {},
        templates=await lifecycle.meta_word(conn),
        number=await lifecycle.number_state(conn, phone_number_id) if phone_number_id else None,
    )


# -- messaging-limit tier --------------------------------------------------------------------------


async def reach(
    conn: AsyncConnection, contact_ids: Sequence[int], now: datetime, number: tuple[str, bool] | None = None
) -> Reach:
    """How many unique users were reached outside a window since `now - 24 h`, and which of `contact_ids`.

    With `number` (its id, and whether it is the default one, which also owns messages naming none), only
    the users that number reached: Meta's tier is per business number.
    """
    since = now - REACH_WINDOW
    # Literally the partial index's condition (SQLite writes the column as `outside_window = 1`, which its
    # planner does not match to the index's `WHERE outside_window`), and the contact as an expression, so
    # that SQLite does not walk every message ever stored in contact order to save a sort: the sender asks
    # this for every batch, and the index holds only the few messages that reached someone outside a window.
    recent = and_(OUTSIDE_WINDOW, MESSAGE.c.created_at > since)
    if number is not None:
        mine = MESSAGE.c.phone_number_id == number[0]
        recent = and_(recent, or_(mine, MESSAGE.c.phone_number_id.is_(None)) if number[1] else mine)
    contact = MESSAGE.c.contact_id + 0
    per_user = select(func.max(MESSAGE.c.created_at).label("last")).where(recent).group_by(contact).subquery()
    count, oldest = (await conn.execute(select(func.count(), func.min(per_user.c.last)).select_from(per_user))).one()
    reached = await conn.execute(select(contact).where(recent, among(contact, contact_ids)).distinct())
    # MIN and MAX keep the column's type, so `oldest` is UTC-aware on both databases.
    frees_at = oldest + REACH_WINDOW if oldest is not None else None
    return Reach(int(count), frees_at, frozenset(int(r[0]) for r in reached))


# -- undeliverable numbers -------------------------------------------------------------------------


async def mark_undeliverable(conn: AsyncConnection, contact_id: int, now: datetime) -> None:
    """Meta answered 131026 for this number: hold off until the customer writes to us again."""
    await conn.execute(update(CONTACT).where(CONTACT.c.id == contact_id).values(undeliverable_at=now, updated_at=now))


def undeliverable(contact: ContactBase | campaign.Recipient | None) -> bool:
    """Whether Meta called the number undeliverable after the customer's latest message to us."""
    if contact is None or contact.undeliverable_at is None:
        return False
    return contact.last_inbound_at is None or contact.last_inbound_at < contact.undeliverable_at


# -- templates Meta refused ------------------------------------------------------------------------


async def block_template(
    conn: AsyncConnection, *, name: str, language: str, error_code: int | None, reason: str, now: datetime
) -> bool:
    """Stop using a template Meta refused; answers whether it was newly blocked."""
    stmt = insert_ignoring_conflicts(conn, TEMPLATE_BLOCK, "name", "language").values(
        name=name, language=language, error_code=error_code, reason=reason, blocked_at=now
    )
    return bool((await conn.execute(stmt.returning(TEMPLATE_BLOCK.c.id))).first())


async def unblock_template(conn: AsyncConnection, *, name: str, language: str | None = None) -> int:
    """Use a template again (its problem was fixed with Meta); every language unless one is given."""
    stmt = delete(TEMPLATE_BLOCK).where(TEMPLATE_BLOCK.c.name == name)
    if language is not None:
        stmt = stmt.where(TEMPLATE_BLOCK.c.language == language)
    return int((await conn.execute(stmt)).rowcount)


async def blocked_templates(conn: AsyncConnection) -> dict[tuple[str, str], TemplateBlockBase]:
    rows = await conn.execute(select(TEMPLATE_BLOCK))
    blocks = [TemplateBlockBase.model_validate(row._mapping) for row in rows]
    return {(b.name, b.language): b for b in blocks}


# -- is the message still wanted? ------------------------------------------------------------------


async def unwanted_subjects(conn: AsyncConnection, subjects: set[str], now: datetime) -> dict[str, str]:
    """The subjects among `subjects` that no longer want their message, each with the reason.

    Subjects: `appointment:<id>` (booked and still ahead), `order:<id>:<status>` (the order still has
    that status), `account:<contact id>:low` (the
    contact's balance is still below its threshold), `otp:<id>` (the code
    is unused, unexpired and the latest for its number and purpose), `schedule:<id>` (the schedule is
    still active). An unknown form is always wanted.
    """
    parsed = [(s, s.split(":")) for s in subjects]
    unwanted: dict[str, str] = {}
    ids = _ids(parsed, "appointment", 2)
    if ids:
        rows = await conn.execute(select(APPOINTMENT).where(among(APPOINTMENT.c.id, ids)))
        for row in rows:
            if row.status != "booked":
                unwanted[f"appointment:{row.id}"] = f"appointment {row.id} is {row.status}"
            elif row.starts_at <= now:
                unwanted[f"appointment:{row.id}"] = f"appointment {row.id} has already started"
    ids = _ids(parsed, "order", 3)
    if ids:
        statuses = dict((await conn.execute(select(ORDER.c.id, ORDER.c.status).where(among(ORDER.c.id, ids)))).all())
        for subject, parts in parsed:
            if parts[0] == "order" and len(parts) == 3 and parts[1].isdecimal():
                current = statuses.get(int(parts[1]))
                if current != parts[2]:
                    unwanted[subject] = f"order {parts[1]} is now {current or 'gone'}, no longer {parts[2]}"
    ids = _ids(parsed, "account", 3)
    if ids:
        rows = await conn.execute(
            select(ACCOUNT.c.contact_id, ACCOUNT.c.low_alerted).where(among(ACCOUNT.c.contact_id, ids))
        )
        for contact_id, low in rows:
            if not low:
                unwanted[f"account:{contact_id}:low"] = "the balance is no longer below its threshold"
    ids = _ids(parsed, "otp", 2)
    if ids:
        unwanted.update(await _stale_codes(conn, ids, now))
    ids = _ids(parsed, "schedule", 2)
    if ids:
        rows = await conn.execute(select(SCHEDULE.c.id).where(among(SCHEDULE.c.id, ids), ~SCHEDULE.c.active))
        for (schedule_id,) in rows:
            unwanted[f"schedule:{schedule_id}"] = f"schedule {schedule_id} was deactivated"
    return unwanted


def _ids(parsed: Sequence[tuple[str, list[str]]], kind: str, parts: int) -> list[int]:
    return [int(p[1]) for _, p in parsed if p[0] == kind and len(p) == parts and p[1].isdecimal()]


async def _stale_codes(conn: AsyncConnection, ids: list[int], now: datetime) -> dict[str, str]:
    newer = OTP_CHALLENGE.alias("newer")
    latest = (
        select(func.count())
        .where(
            newer.c.wa_id == OTP_CHALLENGE.c.wa_id,
            newer.c.purpose == OTP_CHALLENGE.c.purpose,
            newer.c.id > OTP_CHALLENGE.c.id,
        )
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(OTP_CHALLENGE.c.id, OTP_CHALLENGE.c.used_at, OTP_CHALLENGE.c.expires_at, latest.label("newer")).where(
            among(OTP_CHALLENGE.c.id, ids)
        )
    )
    stale: dict[str, str] = {}
    for challenge_id, used_at, expires_at, newer_count in rows:
        if used_at is not None:
            stale[f"otp:{challenge_id}"] = "the code was already used"
        elif expires_at <= now:
            stale[f"otp:{challenge_id}"] = "the code expired before it could be sent"
        elif newer_count:
            stale[f"otp:{challenge_id}"] = "a newer code was requested"
    return stale
