"""Property: whatever the interleaving of a running campaign and a contact's opt-out, no marketing message reaches
that contact after the opt-out was stored.

Each example runs the real sender (slow enough that a batch's sends are spread over a quarter of a second)
against a transport that notes when each request arrives, while an opt-out is stored at a moment
Hypothesis picks, through the same path a STOP keyword takes (`bot.inbound.consent_keywords.record_consent`). Every
request to the contact must have arrived before the opt-out's transaction committed.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.inbound.consent_keywords import record_consent
from bot.metrics import Metrics
from bot.otp.core import CODE_LIFE
from bot.outbound.sender import Sender
from bot.whatsapp.client import CloudAPIClient
from bot.whatsapp.message_body import template_message
from storage.consent import ConsentChange, record
from storage.otp import ensure_contact
from storage.outbox import NewMessage
from storage.repository import Repository

CONTACTS = 5
MESSAGES_EACH = 4
THROUGHPUT = 20  # messages per second: a batch of five is spread over 250 ms


class ArrivalTransport:
    """Meta, reduced to noting when each request arrived; answers after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrivals: list[tuple[str, float]] = []

    async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        self.arrivals.append((json["to"], time.monotonic()))
        wamid = f"wamid.race.{uuid.uuid4().hex}"
        await asyncio.sleep(self.delay)
        return 200, {"messaging_product": "whatsapp", "messages": [{"id": wamid}]}


def now() -> datetime:
    return datetime.now(UTC)


async def scenario(url: str, run: int, opt_out_after: float, answer_delay: float) -> tuple[list[float], float]:
    """One interleaving: the arrival times of requests to the contact who opts out, and when it was stored."""
    repository = Repository.connect(url)
    try:
        numbers = [f"3169{run:04d}{i:03d}" for i in range(CONTACTS)]
        async with repository.transaction() as conn:
            ids = [await ensure_contact(conn, wa_id, now()) for wa_id in numbers]
            opt_ins = [ConsentChange(cid, "opt_in", "api", {"by": "test"}, now()) for cid in ids]
            await record(conn, opt_ins, now())
        messages = [
            NewMessage(
                kind="marketing", contact_id=cid, recipient=wa_id, payload=template_message(wa_id, "promo", "en"),
                due_at=now(), template_name="promo", template_category="marketing",
                idempotency_key=f"race:{run}:{wa_id}:{n}",
            )
            for n in range(MESSAGES_EACH) for cid, wa_id in zip(ids, numbers, strict=True)
        ]  # fmt: skip
        await repository.enqueue(messages, now())
        transport = ArrivalTransport(answer_delay)
        client = CloudAPIClient(
            transport=transport, base_url="http://graph.test", version="v25.0", phone_number_id="1", access_token="t"
        )
        sender = Sender(repository, client, clock=now, metrics=Metrics(), code_life=CODE_LIFE, throughput=THROUGHPUT)

        async def opt_out() -> float:
            await asyncio.sleep(opt_out_after)
            # The last contact of each batch: its send comes about 200 ms after the batch read consent.
            change = ConsentChange(ids[-1], "opt_out", "keyword", {"said": "STOP"}, now())
            async with repository.transaction() as conn:
                await record_consent(repository.consent_guard, conn, [change], now())
            return time.monotonic()  # committed: the transaction has ended

        async def drain() -> None:
            while await sender.run_once():
                pass

        stored_at, _ = await asyncio.gather(opt_out(), drain())
        return [at for to, at in transport.arrivals if to == numbers[-1]], stored_at
    finally:
        await repository.close()


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("race") / "template.db"
    repository = Repository.connect(f"sqlite+aiosqlite:///{path}")

    async def migrate() -> None:
        await repository.migrate()
        await repository.close()

    asyncio.run(migrate())
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def race_url(request: pytest.FixtureRequest, migrated_sqlite: Path, tmp_path: Path) -> Iterator[str]:
    """A migrated database for the examples: a copy of a migrated SQLite file, or the run's PostgreSQL database."""
    if request.param == "sqlite":
        copy = tmp_path / "race.db"
        shutil.copy(migrated_sqlite, copy)
        yield f"sqlite+aiosqlite:///{copy}"
        return
    url: str = request.getfixturevalue("postgres_url")
    repository = Repository.connect(url)

    async def migrate() -> None:
        await repository.migrate()
        await repository.close()

    asyncio.run(migrate())
    yield url


_runs = iter(range(1, 10_000))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opt_out_after=st.floats(0.0, 1.0), answer_delay=st.sampled_from([0.0, 0.005, 0.03]))
def test_no_marketing_reaches_a_contact_after_their_opt_out_is_stored(
    race_url: str, opt_out_after: float, answer_delay: float
) -> None:
    """Every request to the contact who opts out arrived before the opt-out's transaction committed."""
    arrivals, stored_at = asyncio.run(scenario(race_url, next(_runs), opt_out_after, answer_delay))
    late = [round(at - stored_at, 4) for at in arrivals if at >= stored_at]
    assert late == [], f"{len(late)} request(s) arrived after the opt-out was stored (seconds after: {late})"
    assert len(arrivals) <= MESSAGES_EACH
