"""Campaigns, their runs and their messages in the outbox: stored, started once per occurrence, paused, counted.

Every function takes the caller's connection. A run is unique per (campaign, scheduled_for), and each
recipient's message has the idempotency key `campaign:{run}:{contact}`, so two instances never start
the same occurrence and an expansion that is repeated after a crash queues nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import events
from storage.dialect import among, insert_ignoring_conflicts
from storage.models import (
    CAMPAIGN,
    CAMPAIGN_RUN,
    CONSENT_EVENT,
    CONTACT,
    MESSAGE,
    OUTBOX,
    CampaignBase,
    CampaignRunBase,
    ContactBase,
)

WEEK = timedelta(days=7)
LIVE = ("scheduled", "running")


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a campaign reads of a contact: who, what its template values may take, whether Meta can deliver."""

    id: int
    wa_id: str | None
    name: str | None
    language: str | None
    time_zone: str | None
    tags: list[str] | None
    last_inbound_at: datetime | None
    undeliverable_at: datetime | None


RECIPIENT_COLUMNS = [CONTACT.c[f.name] for f in fields(Recipient)]


async def add_campaign(conn: AsyncConnection, campaign: CampaignBase) -> CampaignBase | None:
    """Store a new campaign; None when the name is taken."""
    values = campaign.model_dump(exclude={"id"})
    stmt = insert_ignoring_conflicts(conn, CAMPAIGN, "name").values(**values).returning(CAMPAIGN.c.id)
    row = (await conn.execute(stmt)).first()
    return None if row is None else CampaignBase.model_validate({**values, "id": row[0]})


async def campaign_by_id(conn: AsyncConnection, campaign_id: int) -> CampaignBase | None:
    row = (await conn.execute(select(CAMPAIGN).where(CAMPAIGN.c.id == campaign_id))).first()
    return None if row is None else CampaignBase.model_validate(row._mapping)


async def list_campaigns(conn: AsyncConnection, limit: int, before: int | None) -> list[CampaignBase]:
    stmt = select(CAMPAIGN).order_by(CAMPAIGN.c.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(CAMPAIGN.c.id < before)
    return [CampaignBase.model_validate(r._mapping) for r in await conn.execute(stmt)]


FINISHED = ("completed", "cancelled")


async def set_state(conn: AsyncConnection, campaign_id: int, state: str, now: datetime, **values: Any) -> None:
    """Move a campaign to `state`; reaching completed or cancelled tells `campaign.finished` with its progress."""
    stmt = update(CAMPAIGN).where(CAMPAIGN.c.id == campaign_id).values(state=state, updated_at=now, **values)
    before = None
    if state in FINISHED:
        before = (
            await conn.execute(select(CAMPAIGN.c.state, CAMPAIGN.c.name).where(CAMPAIGN.c.id == campaign_id))
        ).first()
    await conn.execute(stmt)
    if before is not None and before[0] not in FINISHED and await events.wanted(conn, "campaign.finished"):
        data = {"campaign_id": campaign_id, "name": before[1], "state": state, "finished_at": now.isoformat(),
                "messages": await progress(conn, campaign_id)}  # fmt: skip
        await events.emit(conn, [events.Event("campaign.finished", data, None, now)])


async def due_campaigns(conn: AsyncConnection, now: datetime, limit: int) -> list[CampaignBase]:
    """Live campaigns whose next run is due, soonest first."""
    stmt = (
        select(CAMPAIGN)
        .where(CAMPAIGN.c.next_run_at <= now, CAMPAIGN.c.state.in_(LIVE))
        .order_by(CAMPAIGN.c.next_run_at)
        .limit(limit)
    )
    return [CampaignBase.model_validate(r._mapping) for r in await conn.execute(stmt)]


async def start_run(conn: AsyncConnection, campaign_id: int, scheduled_for: datetime, now: datetime) -> int | None:
    """Record the run of `scheduled_for`; its id, or None when another instance already started it."""
    stmt = (
        insert_ignoring_conflicts(conn, CAMPAIGN_RUN, "campaign_id", "scheduled_for")
        .values(campaign_id=campaign_id, scheduled_for=scheduled_for, state="expanding", cursor=0, queued=0,
                slots=0, created_at=now)
        .returning(CAMPAIGN_RUN.c.id)
    )  # fmt: skip
    row = (await conn.execute(stmt)).first()
    return None if row is None else int(row[0])


async def running_once(conn: AsyncConnection) -> list[CampaignBase]:
    """Running one-off campaigns (no next run): candidates for completion."""
    stmt = select(CAMPAIGN).where(CAMPAIGN.c.state == "running", CAMPAIGN.c.next_run_at.is_(None))
    return [CampaignBase.model_validate(r._mapping) for r in await conn.execute(stmt)]


async def contacts_for_numbers(conn: AsyncConnection, wa_ids: Sequence[str], now: datetime) -> list[ContactBase]:
    """The contacts with these numbers, creating the ones not known yet."""
    rows = [{"wa_id": wa_id, "created_at": now, "updated_at": now} for wa_id in wa_ids]
    await conn.execute(insert_ignoring_conflicts(conn, CONTACT, "wa_id"), rows)
    found = await conn.execute(select(CONTACT).where(among(CONTACT.c.wa_id, wa_ids)).order_by(CONTACT.c.id))
    return [ContactBase.model_validate(r._mapping) for r in found]


async def expanding_runs(conn: AsyncConnection, limit: int) -> list[CampaignRunBase]:
    """Runs still expanding whose campaign is running (a paused campaign's expansion waits)."""
    stmt = (
        select(CAMPAIGN_RUN)
        .join(CAMPAIGN, CAMPAIGN.c.id == CAMPAIGN_RUN.c.campaign_id)
        .where(CAMPAIGN_RUN.c.state == "expanding", CAMPAIGN.c.state == "running")
        .order_by(CAMPAIGN_RUN.c.id)
        .limit(limit)
    )
    return [CampaignRunBase.model_validate(r._mapping) for r in await conn.execute(stmt)]


async def runs_of(conn: AsyncConnection, campaign_id: int, limit: int = 20) -> list[CampaignRunBase]:
    stmt = (
        select(CAMPAIGN_RUN)
        .where(CAMPAIGN_RUN.c.campaign_id == campaign_id)
        .order_by(CAMPAIGN_RUN.c.scheduled_for.desc())
        .limit(limit)
    )
    return [CampaignRunBase.model_validate(r._mapping) for r in await conn.execute(stmt)]


async def contacts_after(conn: AsyncConnection, cursor: int, limit: int) -> list[Recipient]:
    """The next page of contacts by id: campaigns walk the whole table a page at a time, in flat memory.

    Only the columns a campaign reads, as plain values: building a validated `ContactBase` of every row
    was over half of the time a dry run of 100,000 contacts took.
    """
    stmt = select(*RECIPIENT_COLUMNS).where(CONTACT.c.id > cursor).order_by(CONTACT.c.id).limit(limit)
    return [Recipient(*row) for row in await conn.execute(stmt)]


async def advance_run(
    conn: AsyncConnection, run: CampaignRunBase, cursor: int, queued: int, slots: int, done: bool, now: datetime
) -> bool:
    """Move the run's cursor on, only from where this caller read it; False when another instance moved it.

    `queued` messages were added, `slots` of them took a send slot at the campaign's rate.
    """
    values: dict[str, Any] = {"cursor": cursor, "queued": run.queued + queued, "slots": run.slots + slots}
    if done:
        values |= {"state": "queued", "finished_at": now}
    stmt = (
        update(CAMPAIGN_RUN)
        .where(CAMPAIGN_RUN.c.id == run.id, CAMPAIGN_RUN.c.cursor == run.cursor, CAMPAIGN_RUN.c.state == "expanding")
        .values(**values)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def marketing_sent_since(conn: AsyncConnection, contact_ids: Sequence[int], since: datetime) -> dict[int, int]:
    """Marketing messages each contact was sent since `since` (the frequency cap's rolling week)."""
    if not contact_ids:
        return {}
    stmt = (
        select(MESSAGE.c.contact_id, func.count())
        .where(
            among(MESSAGE.c.contact_id, contact_ids),
            MESSAGE.c.direction == "out",
            MESSAGE.c.category == "marketing",
            MESSAGE.c.created_at > since,
        )
        .group_by(MESSAGE.c.contact_id)
    )
    return {int(cid): int(n) for cid, n in await conn.execute(stmt)}


async def states_and_caps(conn: AsyncConnection, campaign_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
    """Each campaign's state and frequency cap, for the send-time checks."""
    if not campaign_ids:
        return {}
    stmt = select(CAMPAIGN.c.id, CAMPAIGN.c.state, CAMPAIGN.c.frequency_cap).where(among(CAMPAIGN.c.id, campaign_ids))
    return {int(i): (str(s), int(c)) for i, s, c in await conn.execute(stmt)}


@dataclass(frozen=True)
class CampaignEntry:
    campaign_id: int
    name: str
    flow: str


async def campaign_entry(conn: AsyncConnection, wamid: str | None) -> CampaignEntry | None:
    """The campaign that sent message `wamid`, when it names a flow for its quick replies."""
    if wamid is None:
        return None
    stmt = (
        select(CAMPAIGN.c.id, CAMPAIGN.c.name, CAMPAIGN.c.flow)
        .join(OUTBOX, OUTBOX.c.campaign_id == CAMPAIGN.c.id)
        .where(OUTBOX.c.wamid == wamid, CAMPAIGN.c.flow.is_not(None))
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else CampaignEntry(int(row.id), str(row.name), str(row.flow))


# -- pause, resume, cancel, retry -----------------------------------------------------------------


async def hold_queued(conn: AsyncConnection, campaign_id: int, now: datetime) -> int:
    """Pause: the campaign's queued messages wait as `paused` (messages already with Meta go on)."""
    stmt = (
        update(OUTBOX)
        .where(OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.status == "queued")
        .values(status="paused", updated_at=now)
    )
    return int((await conn.execute(stmt)).rowcount)


async def release_paused(conn: AsyncConnection, campaign_id: int, now: datetime, rate: float | None) -> int:
    """Resume: paused messages queue again, spaced at the campaign's rate from now."""
    paused = select(OUTBOX.c.id).where(OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.status == "paused")
    ids = [r[0] for r in await conn.execute(paused.order_by(OUTBOX.c.id))]
    step = timedelta(seconds=1 / rate) if rate else timedelta(0)
    rows = [{"oid": oid, "due": now + step * index} for index, oid in enumerate(ids)]
    if rows:
        stmt = update(OUTBOX).where(OUTBOX.c.id == bindparam("oid"))
        await conn.execute(stmt.values(status="queued", due_at=bindparam("due"), updated_at=now), rows)
    return len(ids)


async def cancel_unsent(conn: AsyncConnection, campaign_id: int, now: datetime) -> int:
    """Cancel: queued and paused messages are settled `cancelled`; expanding runs stop."""
    error = {"code": "campaign_cancelled", "message": "the campaign was cancelled before this was sent"}
    result = await conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.status.in_(("queued", "paused")))
        .values(status="cancelled", last_error=error, updated_at=now)
    )
    await conn.execute(
        update(CAMPAIGN_RUN)
        .where(CAMPAIGN_RUN.c.campaign_id == campaign_id, CAMPAIGN_RUN.c.state == "expanding")
        .values(state="cancelled", finished_at=now)
    )
    return int(result.rowcount)


async def requeue_failed(conn: AsyncConnection, campaign_id: int, now: datetime) -> int:
    """Retry the failed ones: each failed message is queued again as a fresh attempt."""
    stmt = (
        update(OUTBOX)
        .where(OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.status == "failed")
        .values(status="queued", attempts=0, due_at=now, lease_owner=None, lease_until=None, updated_at=now)
    )
    return int((await conn.execute(stmt)).rowcount)


async def unfinished(conn: AsyncConnection, campaign_id: int) -> bool:
    """Whether any of the campaign's messages is still to be sent, or a run is still expanding."""
    outbox = select(OUTBOX.c.id).where(
        OUTBOX.c.campaign_id == campaign_id, OUTBOX.c.status.in_(("queued", "sending", "paused"))
    )
    runs = select(CAMPAIGN_RUN.c.id).where(
        CAMPAIGN_RUN.c.campaign_id == campaign_id, CAMPAIGN_RUN.c.state == "expanding"
    )
    return (await conn.execute(outbox.limit(1))).first() is not None or (
        await conn.execute(runs.limit(1))
    ).first() is not None


# -- progress and the per-recipient log -----------------------------------------------------------


async def progress(conn: AsyncConnection, campaign_id: int) -> dict[str, int]:
    """How many of the campaign's messages are in each state, with Meta's delivered and read."""
    counts = dict(
        (str(s), int(n))
        for s, n in await conn.execute(
            select(OUTBOX.c.status, func.count()).where(OUTBOX.c.campaign_id == campaign_id).group_by(OUTBOX.c.status)
        )
    )
    delivered = select(MESSAGE.c.status, func.count()).join(OUTBOX, OUTBOX.c.wamid == MESSAGE.c.wamid)
    for status, n in await conn.execute(
        delivered.where(OUTBOX.c.campaign_id == campaign_id, MESSAGE.c.status.in_(("delivered", "read"))).group_by(
            MESSAGE.c.status
        )
    ):
        counts[str(status)] = int(n)
    return counts


async def recipients(
    conn: AsyncConnection, campaign_id: int, *, status: str | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """The per-recipient log, newest first: each message's outcome, Meta's status, a reply, an opt-out."""
    inbound = MESSAGE.alias("inbound")
    replied = (
        select(func.count())
        .where(
            inbound.c.contact_id == OUTBOX.c.contact_id,
            inbound.c.direction == "in",
            inbound.c.created_at > OUTBOX.c.updated_at,
        )
        .scalar_subquery()
    )
    opted_out = (
        select(func.count())
        .where(
            CONSENT_EVENT.c.contact_id == OUTBOX.c.contact_id,
            CONSENT_EVENT.c.action == "opt_out",
            CONSENT_EVENT.c.created_at >= OUTBOX.c.created_at,
        )
        .scalar_subquery()
    )
    stmt = (
        select(
            OUTBOX.c.id, OUTBOX.c.recipient, CONTACT.c.name, OUTBOX.c.status, OUTBOX.c.last_error,
            OUTBOX.c.updated_at, OUTBOX.c.due_at, MESSAGE.c.status.label("meta_status"), replied.label("replied"),
            opted_out.label("opted_out"),
        )
        .select_from(
            OUTBOX.outerjoin(MESSAGE, and_(MESSAGE.c.wamid == OUTBOX.c.wamid, OUTBOX.c.wamid.is_not(None)))
            .outerjoin(CONTACT, CONTACT.c.id == OUTBOX.c.contact_id)
        )
        .where(OUTBOX.c.campaign_id == campaign_id)
        .order_by(OUTBOX.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    if status is not None:
        stmt = stmt.where(OUTBOX.c.status == status)
    if before is not None:
        stmt = stmt.where(OUTBOX.c.id < before)
    return [
        {
            "id": r.id, "wa_id": r.recipient, "name": r.name, "status": r.status, "meta_status": r.meta_status,
            "reason": (r.last_error or {}).get("code"), "detail": (r.last_error or {}).get("message"),
            "replied": bool(r.replied), "opted_out": bool(r.opted_out), "updated_at": r.updated_at,
            "due_at": r.due_at,
        }
        for r in await conn.execute(stmt)
    ]  # fmt: skip
