"""The retention loop: raw bodies and texts past their days go, a batch at a time; young ones and costs stay."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot import keys
from bot.privacy.retention import RETENTION, Purged, Retention
from bot.settings import Settings
from bot.whatsapp.webhook_parser import parse_payload
from storage.conversation import open_conversations
from storage.inbox import Delivery, mark_handled
from storage.models import CONVERSATION, MESSAGE, OUTBOX, WEBHOOK_EVENT
from storage.outbox import NewMessage
from storage.repository import Repository
from tests.api.test_app import ClientFactory, post_webhook, start_app, wait_until
from tests.conftest import FakeClock, text_webhook
from tests.dashboard.test_app import conversation_row

OLD, YOUNG = timedelta(days=40), timedelta(days=1)


async def deliver(repository: Repository, wamid: str, at: datetime, text: str) -> int:
    """A customer's text stored as the webhook stores it, received and sent at `at`; its contact's id."""
    payload = text_webhook("31612345678", text, wamid=wamid, timestamp=at)
    await repository.store_deliveries([Delivery(json.dumps(payload), parse_payload(payload), received_at=at)])
    found = await repository.message_by_wamid(wamid)
    assert found is not None
    return found.contact_id


async def table(repository: Repository, columns: Any, order: Any) -> list[tuple[Any, ...]]:
    async with repository.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(select(*columns).order_by(order))]


async def test_old_bodies_and_texts_go_young_ones_and_costs_stay(repository: Repository, clock: FakeClock) -> None:
    """Past 30 days raw bodies are deleted and texts blanked, in batches of 2; younger rows and pricing are kept."""
    now = clock.now
    contact = 0
    for n in range(5):
        contact = await deliver(repository, f"wamid.old.{n}", now - OLD, f"old text {n}")
    await deliver(repository, "wamid.young", now - YOUNG, "young text")
    async with repository.transaction() as conn:
        await open_conversations(conn, [conversation_row(contact, "service", now - OLD)])
        rows = await conn.execute(select(MESSAGE.c.id))
        await mark_handled(conn, [i for (i,) in rows], now)
    said = {"type": "text", "text": {"body": "old reply"}}
    await repository.enqueue([NewMessage("reply", contact, "31612345678", said, now - OLD)], now - OLD)
    await repository.claim_due(owner="s", now=now, lease=timedelta(seconds=60), limit=1)
    async with repository.transaction() as conn:
        await conn.execute(OUTBOX.update().values(status="sent"))
    await repository.enqueue([NewMessage("reply", contact, "31612345678", said, now)], now - OLD)  # still queued

    retention = Retention(repository, webhooks_days=30, texts_days=30, clock=clock, batch=2)
    assert await retention.purge() == Purged(webhooks=5, messages=5, outbox=1)

    assert await table(repository, [WEBHOOK_EVENT.c.received_at], WEBHOOK_EVENT.c.id) == [(now - YOUNG,)]
    texts = await table(repository, [MESSAGE.c.wamid, MESSAGE.c.text, MESSAGE.c.body.is_(None)], MESSAGE.c.id)
    assert texts == [*((f"wamid.old.{n}", None, True) for n in range(5)), ("wamid.young", "young text", False)]
    payloads = await table(repository, [OUTBOX.c.status, OUTBOX.c.payload], OUTBOX.c.id)
    assert payloads == [("sent", {}), ("queued", said)]
    assert len(await table(repository, [CONVERSATION.c.category], CONVERSATION.c.id)) == 1
    assert await retention.purge() == Purged()  # nothing left to do


async def test_an_unhandled_message_keeps_its_text_until_its_turn(repository: Repository, clock: FakeClock) -> None:
    """A message the bot has not answered yet is skipped, and purged by a later round once it is handled."""
    await deliver(repository, "wamid.waiting", clock.now - OLD, "waiting text")
    await deliver(repository, "wamid.done", clock.now - OLD, "done text")
    done = await repository.message_by_wamid("wamid.done")
    assert done is not None
    assert done.id is not None
    async with repository.transaction() as conn:
        await mark_handled(conn, [done.id], clock.now)
    retention = Retention(repository, webhooks_days=None, texts_days=30, clock=clock, batch=10)
    assert await retention.purge() == Purged(messages=1)
    assert await table(repository, [MESSAGE.c.text], MESSAGE.c.id) == [("waiting text",), (None,)]
    waiting = await repository.message_by_wamid("wamid.waiting")
    assert waiting is not None
    assert waiting.id is not None
    async with repository.transaction() as conn:
        await mark_handled(conn, [waiting.id], clock.now)
    assert await retention.purge() == Purged(messages=1)
    assert await table(repository, [MESSAGE.c.text], MESSAGE.c.id) == [(None,), (None,)]


async def test_the_scheduler_role_runs_the_retention_loop(
    aiohttp_client: ClientFactory, make_settings: Any, clock: FakeClock
) -> None:
    """With the scheduler role the loop runs in the app: woken, it deletes a raw body past its days."""
    settings: Settings = make_settings(retain_webhooks_days=30)
    clock.advance(days=40)  # webhooks are stamped with the real time: 40 days before the app's clock
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web", "scheduler"})
    app: web.Application = client.server.app
    assert app[RETENTION].enabled
    await post_webhook(client, text_webhook("31612345678", "hello"))
    app[RETENTION].wake()
    repository = app[keys.REPOSITORY]

    async def purged() -> bool:
        return await table(repository, [WEBHOOK_EVENT.c.id], WEBHOOK_EVENT.c.id) == []

    await wait_until(purged, what="the old webhook purged")
