"""GET /api/stats through the real app, on SQLite and PostgreSQL: counts, boundaries, Meta's pricing, the free tier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import insert

from bot import keys
from bot.app import create_app
from bot.errors import ConfigError
from bot.settings import Settings
from storage.models import CONTACT, CONVERSATION, MESSAGE, OUTBOX
from storage.repository import Repository
from tests.api.test_app import (
    Client,
    ClientFactory,
    assert_error,
    fetch_openapi,
    get_json,
    post_webhook,
    start_app,
    wait_for_replies,
    wait_until,
)
from tests.conftest import FakeClock, status_webhook, text_webhook

NL = "31612345678"
NL_2 = "31612345679"
ES = "34612345678"  # a country the test card has no rate for
NOWHERE = "999123456"  # phonenumbers cannot place +999
CARD = """# test figures
country_calling_code,category,price,currency,valid_from
31,utility,0.0600,EUR,2024-01-01
31,marketing,0.1500,EUR,2024-01-01
31,utility,0.0500,EUR,2025-07-01
31,marketing,0.1400,EUR,2025-07-01
31,service,0.0300,EUR,2026-10-01
31,authentication,0.0400,EUR,2026-12-01
"""


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@dataclass
class Seed:
    """Writes contacts, conversations and messages as the sender and the status webhooks would have left them."""

    repository: Repository
    serial: int = 0

    async def contact(self, wa_id: str) -> int:
        async with self.repository.transaction() as conn:
            return int((await conn.execute(insert(CONTACT).values(wa_id=wa_id).returning(CONTACT.c.id))).scalar_one())

    async def conversation(self, contact: int, category: str, opened: datetime, origin: str | None = None) -> int:
        origin = origin or ("user_initiated" if category == "service" else "business_initiated")
        values = {"contact_id": contact, "category": category, "origin": origin, "opened_at": opened}
        values |= {"expires_at": opened + timedelta(hours=24), "opening_wamid": f"wamid.seed.{self.serial + 1}"}
        async with self.repository.transaction() as conn:
            return int(
                (await conn.execute(insert(CONVERSATION).values(**values).returning(CONVERSATION.c.id))).scalar_one()
            )

    async def messages(self, contact: int, when: datetime, count: int = 1, **fields: Any) -> None:
        """`count` outbound messages at `when` (a template when `template` names its category), delivered by default."""
        template = fields.pop("template", None)
        status = fields.pop("status", "delivered")
        rows = []
        async with self.repository.transaction() as conn:
            outbox_id = None
            if template is not None:
                outbox = {"kind": "utility", "contact_id": contact, "recipient": "x", "payload": {"type": "template"}}
                stmt = insert(OUTBOX).values(**outbox, template_category=template).returning(OUTBOX.c.id)
                outbox_id = (await conn.execute(stmt)).scalar_one()
            for _ in range(count):
                self.serial += 1
                rows.append(
                    {
                        "wamid": f"wamid.seed.{self.serial}", "direction": "out", "contact_id": contact,
                        "type": "template" if template else "text", "category": template or "service",
                        "status": status, "outbox_id": outbox_id, "created_at": when,
                        "delivered_at": when if status in ("delivered", "read") else None,
                        "failed_at": when if status == "failed" else None, "outside_window": False, "pricing": None,
                        "conversation_id": None,
                    } | fields
                )  # fmt: skip
            await conn.execute(insert(MESSAGE), rows)


@pytest.fixture
def card(tmp_path: Path) -> Path:
    path = tmp_path / "rates.csv"
    path.write_text(CARD, encoding="utf-8")
    return path


async def stats_app(
    aiohttp_client: ClientFactory, make_settings: Callable[..., Settings], clock: FakeClock, card: Path | None
) -> tuple[Client, Seed]:
    client, _ = await start_app(aiohttp_client, make_settings(rate_card=card), clock)
    return client, Seed(client.app[keys.REPOSITORY])


async def stats(client: Client, auth: dict[str, str], start: str, end: str) -> dict[str, Any]:
    body: dict[str, Any] = await get_json(client, "/api/stats", auth, **{"from": start, "to": end})
    return body


@pytest.fixture
async def priced(
    aiohttp_client: ClientFactory, make_settings: Callable[..., Settings], clock: FakeClock, card: Path
) -> tuple[Client, Seed]:
    """The app with the test rate card, and a seeder on its database."""
    return await stats_app(aiohttp_client, make_settings, clock, card)


@pytest.fixture
async def unpriced(
    aiohttp_client: ClientFactory, make_settings: Callable[..., Settings], clock: FakeClock
) -> tuple[Client, Seed]:
    """The app with no rate card, and a seeder on its database."""
    return await stats_app(aiohttp_client, make_settings, clock, None)


def day_of(body: dict[str, Any], day: str) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in body["days"] if d["date"] == day)
    return found


async def test_boundary_between_conversation_and_message_pricing(
    priced: tuple[Client, Seed], auth: dict[str, str]
) -> None:
    """30 June 2025 is priced per conversation at that day's rates, 1 July 2025 per delivered message at new ones."""
    client, seed = priced
    nl = await seed.contact(NL)
    june, july = at("2025-06-30", 23), at("2025-07-01", 0)
    await seed.conversation(nl, "utility", june)
    await seed.messages(nl, june, template="utility")
    await seed.conversation(nl, "service", june)
    await seed.messages(nl, june, 2)  # free-form replies: no charge of their own under CBP
    await seed.messages(nl, july, template="utility", outside_window=True)  # charged
    await seed.messages(nl, july, template="utility")  # inside the window: free until October 2026
    await seed.messages(nl, july, template="marketing")
    await seed.messages(nl, july, template="marketing", status="sent")  # not delivered: not charged
    await seed.messages(nl, july, template="marketing", status="failed")
    await seed.messages(nl, july)  # service: free before October 2026
    body = await stats(client, auth, "2025-06-30", "2025-07-02")
    assert body["currency"] == "EUR"
    assert body["rate_card"]["example"] is False
    assert body["rate_card"]["path"].endswith("rates.csv")
    cbp, pmp = day_of(body, "2025-06-30"), day_of(body, "2025-07-01")
    assert cbp["pricing_model"] == "CBP"
    assert cbp["conversations"] == {"service": 1, "utility": 1}
    assert cbp["billable"] == {"utility": 1}
    assert cbp["cost"] == {"utility": "0.0600"}
    assert cbp["cost_source"] == {"meta": 0, "estimate": 2}
    assert pmp["pricing_model"] == "PMP"
    assert pmp["messages"] == {
        "marketing": {"sent": 3, "delivered": 1, "failed": 1},
        "service": {"sent": 1, "delivered": 1, "failed": 0},
        "utility": {"sent": 2, "delivered": 2, "failed": 0},
    }
    assert pmp["billable"] == {"marketing": 1, "utility": 1}
    assert pmp["cost"] == {"marketing": "0.1400", "utility": "0.0500"}
    assert pmp["cost_total"] == "0.1900"
    assert body["totals"]["cost_total"] == "0.2500"
    assert body["totals"]["conversations"] == {"service": 1, "utility": 1}
    assert body["unpriced"] == {}


async def test_meta_pricing_wins_over_the_estimate(priced: tuple[Client, Seed], auth: dict[str, str]) -> None:
    """Meta's billable flag and category decide for messages (PMP) and for a conversation's opening message (CBP)."""
    client, seed = priced
    nl = await seed.contact(NL)
    june, august = at("2025-06-10"), at("2025-08-01")
    await seed.conversation(nl, "marketing", june)
    await seed.messages(
        nl, june, template="marketing", pricing={"billable": False, "pricing_model": "CBP", "category": "marketing"}
    )
    await seed.messages(
        nl, august, template="marketing", pricing={"billable": False, "category": "marketing", "pricing_model": "PMP"}
    )
    await seed.messages(
        nl, august, template="utility", pricing={"type": "regular", "category": "utility", "pricing_model": "PMP"}
    )
    body = await stats(client, auth, "2025-06-10", "2025-08-02")
    june_day, august_day = day_of(body, "2025-06-10"), day_of(body, "2025-08-01")
    assert june_day["billable"] == {}
    assert june_day["cost_source"] == {"meta": 1, "estimate": 0}
    assert august_day["billable"] == {"utility": 1}  # in the window, estimated free; Meta says charged
    assert august_day["cost"] == {"utility": "0.0500"}
    assert august_day["cost_source"] == {"meta": 2, "estimate": 0}


async def test_free_tier_counts_the_whole_month(priced: tuple[Client, Seed], auth: dict[str, str]) -> None:
    """From October 2026 a month's 1,001st service message is charged, counted from the 1st when asked mid-month."""
    client, seed = priced
    nl = await seed.contact(NL)
    await seed.messages(nl, at("2026-09-30"), 1001)  # September: all free
    await seed.messages(nl, at("2026-10-01"), 600)
    await seed.messages(nl, at("2026-10-15"), 401)  # the 1,001st of October is the last of these
    await seed.messages(nl, at("2026-11-01"), 2)  # a new month starts from nothing
    body = await stats(client, auth, "2026-10-15", "2026-11-02")
    october, november = day_of(body, "2026-10-15"), day_of(body, "2026-11-01")
    assert october["messages"]["service"]["delivered"] == 401
    assert october["billable"] == {"service": 1}
    assert october["cost"] == {"service": "0.0300"}
    assert november["billable"] == {}
    september = await stats(client, auth, "2026-09-30", "2026-10-02")
    assert september["totals"]["billable"] == {}


async def test_unplaceable_numbers_and_missing_rates_are_reported(
    priced: tuple[Client, Seed], auth: dict[str, str]
) -> None:
    """A charge to a number phonenumbers cannot place, or with no rate on that day, is counted unpriced, not priced."""
    client, seed = priced
    nowhere, es, nl = await seed.contact(NOWHERE), await seed.contact(ES), await seed.contact(NL)
    day = at("2026-11-02")
    await seed.messages(nowhere, day, template="marketing")
    await seed.messages(es, day, template="marketing")
    await seed.messages(nl, day, template="authentication")  # its rate is valid only from 2026-12-01
    await seed.messages(nl, day, template="marketing")
    body = await stats(client, auth, "2026-11-02", "2026-11-03")
    assert body["unpriced"] == {"no_rate": 2, "unknown_country": 1}
    assert body["totals"]["billable"] == {"authentication": 1, "marketing": 3}
    assert body["totals"]["cost"] == {"marketing": "0.1400"}


async def test_without_a_card_cost_is_null_with_a_reason(unpriced: tuple[Client, Seed], auth: dict[str, str]) -> None:
    """No rate card: counts and charges are there, cost is null and cost_note says how to get one."""
    client, seed = unpriced
    await seed.messages(await seed.contact(NL), at("2026-11-02"), template="marketing")
    body = await stats(client, auth, "2026-11-02", "2026-11-03")
    assert body["currency"] is None
    assert body["rate_card"] is None
    assert "BOT_RATE_CARD" in body["cost_note"]
    assert body["totals"]["billable"] == {"marketing": 1}
    assert body["totals"]["cost"] is None
    assert body["totals"]["cost_total"] is None


async def test_empty_range_lists_every_day_and_matches_the_document(
    priced: tuple[Client, Seed], auth: dict[str, str]
) -> None:
    """Every day of the range is listed, with zeros, and the answer is valid against the OpenAPI schema."""
    client, seed = priced
    await seed.messages(await seed.contact(NL), at("2026-11-03"), template="utility")
    body = await stats(client, auth, "2026-11-01", "2026-11-05")
    assert [d["date"] for d in body["days"]] == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    assert day_of(body, "2026-11-01")["cost_total"] == "0.0000"
    document = await fetch_openapi(client)
    schema = document["paths"]["/api/stats"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": document["components"]})  # its $refs point there


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({}, "from and to are required"),
        ({"from": "2026-11-01"}, "from and to are required"),
        ({"from": "2026-11-31", "to": "2026-12-01"}, "from '2026-11-31' is not a date"),
        ({"from": "2026-W40-1", "to": "2026-12-01"}, "is not a date"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "must be after from"),
        ({"from": "2026-11-02", "to": "2026-11-02"}, "to is exclusive"),
        ({"from": "2025-01-01", "to": "2026-01-03"}, "the range is 367 days"),
    ],
)
async def test_bad_ranges_are_400(
    unpriced: tuple[Client, Seed], auth: dict[str, str], query: dict[str, str], words: str
) -> None:
    """Missing or malformed dates, `to` not after `from`, and ranges over 366 days are refused with a reason."""
    client, _ = unpriced
    resp = await client.get("/api/stats", headers=auth, params=query)
    assert resp.status == 400
    assert words in assert_error(await resp.json(), "invalid_request")


async def test_stats_need_the_token(unpriced: tuple[Client, Seed]) -> None:
    """The stats are behind the admin token like the rest of /api."""
    client, _ = unpriced
    resp = await client.get("/api/stats", params={"from": "2026-11-01", "to": "2026-11-02"})
    assert resp.status == 401


async def test_reported_pricing_from_a_real_status_webhook_is_used(
    priced: tuple[Client, Seed], clock: FakeClock, auth: dict[str, str]
) -> None:
    """A reply the service sent, reported delivered and billable by Meta, is charged though the estimate says free."""
    clock.now = at("2026-11-02", 10)  # the app reads its clock at each use
    client, _ = priced
    await post_webhook(client, text_webhook(NL_2, "hi", timestamp=clock.now))
    reply = (await wait_for_replies(client, auth, NL_2))[0]
    pricing = {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"}
    await post_webhook(client, status_webhook(reply["wamid"], "delivered", NL_2, pricing=pricing))

    async def charged() -> dict[str, Any] | None:
        body = await stats(client, auth, "2026-11-02", "2026-11-03")
        return body if body["totals"]["billable"] else None

    body = await wait_until(charged, what="the reported charge")
    assert body["totals"]["billable"] == {"service": 1}
    assert body["totals"]["cost"] == {"service": "0.0300"}
    assert body["totals"]["cost_source"] == {"meta": 1, "estimate": 0}
    assert body["totals"]["received"] == 1


def test_a_bad_rate_card_stops_the_app_at_start(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """A rate card with a bad row refuses to build the app, naming the row, as any bad setting does."""
    card = tmp_path / "rates.csv"
    card.write_text(CARD + "31,retail,0.01,EUR,2026-01-01\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rates.csv:9:4: error: unknown category 'retail'"):
        create_app(make_settings(rate_card=card))
