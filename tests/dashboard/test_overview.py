"""The dashboard's overview: conversations by category per day and their cost, as SVG charts, tables and totals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot import keys
from bot.app import create_app
from bot.whatsapp.client import RecordingTransport
from bot.whatsapp.rate_card import example_rate_card
from storage.conversation import open_conversations
from tests.api.test_app import ClientFactory
from tests.conftest import FakeClock
from tests.dashboard.test_app import NOON, SCRIPT, conversation_row, customer_writes, logged_in, noon

Client = TestClient[web.Request, web.Application]
__all__ = ["logged_in", "noon"]


@pytest.fixture(params=["example card", "no card"])
async def client(
    request: pytest.FixtureRequest, aiohttp_client: ClientFactory, make_settings: Any, noon: FakeClock
) -> Client:
    """The real app with the shipped example rate card, or with none."""
    card = example_rate_card() if request.param == "example card" else None
    app = create_app(
        make_settings(rate_card=card), clock=noon, transport=RecordingTransport(), migrate=True, roles={"web"}
    )
    return await aiohttp_client(app)


async def conversations(client: Client) -> None:
    """Today: a service and a utility conversation; five days ago: a marketing one."""
    contact_id = await customer_writes(client, name="Ana")
    rows = [conversation_row(contact_id, c, NOON) for c in ("service", "utility")]
    rows.append(conversation_row(contact_id, "marketing", NOON - timedelta(days=5)))
    async with client.server.app[keys.REPOSITORY].transaction() as conn:
        await open_conversations(conn, rows)


async def test_the_overview_draws_the_last_30_days(logged_in: Client) -> None:
    """By default the last 30 UTC days: an accessible SVG of conversations by category, a table, and totals."""
    await conversations(logged_in)
    page = await (await logged_in.get("/dashboard/")).text()
    assert 'value="2026-03-12"' in page  # from, 30 days up to and including 10 April
    assert 'value="2026-04-11"' in page  # to, exclusive
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"' in page
    assert '<title id="conversations-title">Conversations by category per day</title>' in page
    assert '<desc id="conversations-desc">' in page
    assert '<rect class="series-service"' in page
    assert "<title>10 Apr: utility 1</title>" in page
    assert "<title>05 Apr: marketing 1</title>" in page
    assert "<tr><td>2026-04-10</td><td>1</td><td>1</td><td>0</td><td>0</td><td>1</td>" in page
    assert '<span class="figure">3</span> conversations' in page
    assert SCRIPT not in page


async def test_costs_show_with_the_example_cards_warning_or_say_there_is_no_card(
    logged_in: Client, request: pytest.FixtureRequest
) -> None:
    """With the example card, a cost chart and the EXAMPLE note; without a card, no cost and the reason."""
    await conversations(logged_in)
    page = await (await logged_in.get("/dashboard/", params={"from": "2026-04-01", "to": "2026-04-11"})).text()
    if "example" in request.node.callspec.id:
        assert '<p class="warning">EXAMPLE figures, not Meta&#39;s prices' in page
        assert '<title id="cost-title">Estimated cost per day</title>' in page
        assert "estimated cost</div>" in page
    else:
        assert "no rate card: set BOT_RATE_CARD" in page
        assert "cost-title" not in page
        assert "estimated cost</div>" not in page


async def test_a_wrong_range_is_explained_and_the_default_shown(logged_in: Client) -> None:
    """A range the API would refuse is said in its words, and the last 30 days are shown instead."""
    for query, words in [
        ({"from": "2026-04-10", "to": "2026-04-01"}, "To (2026-04-01) must be after from (2026-04-10)"),
        ({"from": "yesterday", "to": "2026-04-01"}, "From &#39;yesterday&#39; is not a date as YYYY-MM-DD"),
        ({"from": "2024-01-01", "to": "2026-04-01"}, "ask for at most 366 at a time"),
    ]:
        page = await (await logged_in.get("/dashboard/", params=query)).text()
        assert words in page, query
        assert "Showing the last 30 days." in page
        assert 'value="2026-03-12"' in page
