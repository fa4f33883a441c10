"""Inbound media files: queued with their message, claimed with a lease, settled as stored, refused or failed.

A media row is queued in the webhook's own transaction (so nothing acknowledged to Meta is forgotten) and
fetched later by whichever worker claims it: `UPDATE … WHERE id IN (… FOR UPDATE SKIP LOCKED) RETURNING`,
as the outbox is claimed. A claim whose worker died is claimed again once its lease has run out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dialect import among
from storage.models import MEDIA, MESSAGE, MediaBase

MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})
FETCHING = "fetching"
STORED = "stored"
REFUSED = "refused"  # the file broke a rule (size, type, checksum): fetching it again would not help
FAILED = "failed"  # fetching kept failing until the attempts ran out
PURGED = "purged"  # the file was deleted when its retention ran out


def _text(value: Any, limit: int | None = None) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:limit] if limit else value


def queue_rows(messages: Iterable[tuple[int, int, str, Mapping[str, Any]]], now: datetime) -> list[dict[str, Any]]:
    """Media rows for (message id, contact id, type, raw message) of media types that name a media id."""
    rows = []
    for message_id, contact_id, kind, raw in messages:
        body = raw.get(kind) if kind in MEDIA_KINDS else None
        if not isinstance(body, dict) or _text(body.get("id"), 128) is None:
            continue
        rows.append(
            {
                "message_id": message_id, "contact_id": contact_id, "kind": kind, "media_id": body["id"],
                "declared_mime": _text(body.get("mime_type"), 255), "declared_sha256": _text(body.get("sha256"), 128),
                "caption": _text(body.get("caption")), "filename": _text(body.get("filename"), 255),
                "animated": body.get("animated") is True, "status": "queued", "attempts": 0, "due_at": now,
                "created_at": now, "updated_at": now,
            }
        )  # fmt: skip
    return rows


def queue_for_wamids(conn: Connection, wamids: Sequence[str], now: datetime) -> int:
    """Queue the files of the new inbound messages with these wamids (inside the webhook's transaction)."""
    if not wamids:
        return 0
    found = conn.execute(
        select(MESSAGE.c.id, MESSAGE.c.contact_id, MESSAGE.c.type, MESSAGE.c.body).where(
            among(MESSAGE.c.wamid, wamids), MESSAGE.c.type.in_(sorted(MEDIA_KINDS))
        )
    )
    rows = queue_rows(((i, c, t, b) for i, c, t, b in found if isinstance(b, dict)), now)
    if rows:
        conn.execute(insert(MEDIA), rows)
    return len(rows)


async def claim_due(
    conn: AsyncConnection, *, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[MediaBase]:
    """Claim up to `limit` files due to be fetched: queued ones, and ones whose fetcher's lease ran out."""
    due = or_(
        and_(MEDIA.c.status == "queued", MEDIA.c.due_at <= now),
        and_(MEDIA.c.status == FETCHING, MEDIA.c.lease_until < now),
    )
    claimable = select(MEDIA.c.id).where(due).order_by(MEDIA.c.due_at, MEDIA.c.id).limit(limit)
    stmt = (
        update(MEDIA)
        .where(MEDIA.c.id.in_(claimable.with_for_update(skip_locked=True)))
        .values(
            status=FETCHING, lease_owner=owner, lease_until=now + lease, attempts=MEDIA.c.attempts + 1, updated_at=now
        )
        .returning(*MEDIA.c)
    )
    rows = await conn.execute(stmt)
    return sorted((MediaBase.model_validate(r._mapping) for r in rows), key=lambda m: m.id or 0)


def _held(media_id: int, owner: str) -> Any:
    return and_(MEDIA.c.id == media_id, MEDIA.c.status == FETCHING, MEDIA.c.lease_owner == owner)


async def record_stored(
    conn: AsyncConnection, media_id: int, *, owner: str, mime_type: str, size: int, sha256: str, now: datetime
) -> bool:
    """The file is in the media store under `sha256`; False if the claim was lost meanwhile."""
    stmt = (
        update(MEDIA)
        .where(_held(media_id, owner))
        .values(
            status=STORED, mime_type=mime_type, size=size, sha256=sha256, stored_at=now, error=None,
            lease_owner=None, lease_until=None, updated_at=now,
        )
    )  # fmt: skip
    return bool((await conn.execute(stmt)).rowcount)


async def record_retry(
    conn: AsyncConnection, media_id: int, *, owner: str, error: str, due_at: datetime, now: datetime
) -> None:
    """Fetching failed for a reason that may pass: try again at `due_at`."""
    stmt = (
        update(MEDIA)
        .where(_held(media_id, owner))
        .values(status="queued", error=error[:512], due_at=due_at, lease_owner=None, lease_until=None, updated_at=now)
    )
    await conn.execute(stmt)


async def record_given_up(
    conn: AsyncConnection, media_id: int, *, owner: str, status: str, error: str, now: datetime
) -> None:
    """Settle a file that will not be stored: `refused` (it broke a rule) or `failed` (attempts ran out)."""
    stmt = (
        update(MEDIA)
        .where(_held(media_id, owner))
        .values(status=status, error=error[:512], lease_owner=None, lease_until=None, updated_at=now)
    )
    await conn.execute(stmt)


async def for_messages(conn: AsyncConnection, message_ids: Sequence[int]) -> dict[int, MediaBase]:
    """The media rows of these messages, by message id."""
    if not message_ids:
        return {}
    rows = await conn.execute(select(MEDIA).where(among(MEDIA.c.message_id, message_ids)))
    return {int(r.message_id): MediaBase.model_validate(r._mapping) for r in rows}


async def by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, MediaBase]:
    """The media rows with these ids, by id."""
    if not ids:
        return {}
    rows = await conn.execute(select(MEDIA).where(among(MEDIA.c.id, ids)))
    return {int(r.id): MediaBase.model_validate(r._mapping) for r in rows}


async def by_id(conn: AsyncConnection, media_id: int) -> MediaBase | None:
    row = (await conn.execute(select(MEDIA).where(MEDIA.c.id == media_id))).first()
    return MediaBase.model_validate(row._mapping) if row else None


async def unused(conn: AsyncConnection, digests: Iterable[str]) -> set[str]:
    """Which of these file digests no stored media row points at any more: their files may be deleted."""
    wanted = set(digests)
    if not wanted:
        return set()
    used = select(MEDIA.c.sha256).where(among(MEDIA.c.sha256, sorted(wanted)), MEDIA.c.status == STORED)
    return wanted - {str(d) for d in (await conn.execute(used)).scalars()}


async def purge_older(conn: AsyncConnection, *, created_before: datetime, limit: int) -> list[str]:
    """Mark up to `limit` stored files older than `created_before` purged; the digests they held."""
    old = (
        select(MEDIA.c.id, MEDIA.c.sha256)
        .where(MEDIA.c.status == STORED, MEDIA.c.created_at < created_before)
        .order_by(MEDIA.c.id)
        .limit(limit)
    )
    found = (await conn.execute(old)).all()
    if found:
        stmt = update(MEDIA).where(among(MEDIA.c.id, [i for i, _ in found]))
        await conn.execute(stmt.values(status=PURGED, sha256=None, caption=None, filename=None, media_id=None))
    return [str(d) for _, d in found if d]


async def erase_contact(conn: AsyncConnection, contact_id: int) -> tuple[int, list[str]]:
    """Delete every media row of the contact: how many, and the digests of the files they held."""
    digests = select(MEDIA.c.sha256).where(MEDIA.c.contact_id == contact_id, MEDIA.c.sha256.is_not(None))
    found = sorted({str(d) for d in (await conn.execute(digests)).scalars()})
    deleted = await conn.execute(delete(MEDIA).where(MEDIA.c.contact_id == contact_id))
    return int(deleted.rowcount), found


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """How many media rows are in each status."""
    rows = await conn.execute(select(MEDIA.c.status, func.count()).group_by(MEDIA.c.status))
    return {str(status): int(n) for status, n in rows}
