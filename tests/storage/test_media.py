"""Specification of storage.media: files queued with their webhook, claimed once by one of several workers, leases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.sandbox.wire import encode, inbound_webhook
from bot.whatsapp.webhook_parser import parse_payload
from storage import media
from storage.inbox import Delivery
from storage.repository import Repository

PHONE_ID = "106540352242922"


def _delivery(index: int, kind: str = "image") -> Delivery:
    message = {
        "from": "31612345678", "id": f"wamid.file.{index}", "timestamp": "1750000000", "type": kind,
        kind: {"id": f"90000{index}", "mime_type": "image/jpeg", "sha256": "c2hh", "caption": f"photo {index}"},
    }  # fmt: skip
    body = encode(inbound_webhook(PHONE_ID, name="Ana", wa_id="31612345678", message=message)).decode()
    return Delivery(body, parse_payload(body))


async def test_files_are_queued_once_and_claimed_by_one_worker_each(repository: Repository) -> None:
    """A redelivered webhook queues nothing twice; two workers claiming at once never get the same file."""
    deliveries = [_delivery(i) for i in range(6)]
    await repository.store_deliveries(deliveries)
    await repository.store_deliveries(deliveries[:2])  # Meta's retry of a delivery already stored
    await repository.store_deliveries([_delivery(9, kind="text")])  # no file to fetch
    now = datetime.now(UTC) + timedelta(seconds=1)
    lease = timedelta(minutes=5)

    async def claim(owner: str) -> list[media.MediaBase]:
        async with repository.transaction() as conn:
            return await media.claim_due(conn, owner=owner, now=now, lease=lease, limit=4)

    first, second = await asyncio.gather(claim("a"), claim("b"))
    ids = [row.id for row in first + second]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == 6
    assert {row.caption for row in first + second} == {f"photo {i}" for i in range(6)}
    assert await claim("c") == []  # all held

    later = now + lease + timedelta(seconds=1)  # a worker died holding its files: they are claimed again
    async with repository.transaction() as conn:
        again = await media.claim_due(conn, owner="c", now=later, lease=lease, limit=10)
        assert (
            await media.record_stored(
                conn, first[0].id or 0, owner="a", mime_type="image/jpeg", size=1, sha256="0" * 64, now=later
            )
            is False
        )  # the lost lease's owner can no longer settle it
    assert len(again) == 6
    assert {row.attempts for row in again} == {2}
