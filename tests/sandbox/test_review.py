"""The sandbox's template review and routes: Meta's verdicts, refusals and answers to `push` and `sync`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.errors import CloudAPIError
from bot.sandbox.review import SANDBOX_REVIEWS, Verdict, problem, review
from bot.settings import Settings
from bot.whatsapp.template_api import TemplateAPI

Client = TestClient[web.Request, web.Application]
WABA = "102290129340398"


def document(body: str, category: str = "UTILITY", **extra: Any) -> dict[str, Any]:
    return {"name": "order_note", "language": "en", "category": category,
            "components": [{"type": "BODY", "text": body}], **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "category", "verdict"),
    [
        ("Hi {{customer_name}}, your order has shipped.", "UTILITY", Verdict("APPROVED", "UTILITY")),
        ("Hi {{customer_name}}, enjoy 20% off this week.", "UTILITY", Verdict("APPROVED", "MARKETING")),
        ("Our summer sale starts today, {{customer_name}}.", "MARKETING", Verdict("APPROVED", "MARKETING")),
        ("{{customer_name}}, your order has shipped.", "UTILITY", Verdict("REJECTED", "UTILITY", "INVALID_FORMAT", {
            "reason": "Variable parameters are not allowed at the start or end of the template body",
            "recommendation": "Add text before the first variable and after the last"})),
        ("Hi {{Customer Name}}, your order has shipped.", "UTILITY", Verdict("REJECTED", "UTILITY", "INVALID_FORMAT", {
            "reason": "The placeholder {{Customer Name}} is not a lower-case name or a number",
            "recommendation": "Name each variable in lower case, like {{customer_name}}"})),
    ],
)  # fmt: skip
def test_meta_approves_rejects_and_recategorises(body: str, category: str, verdict: Verdict) -> None:
    """Promotional utility is approved as marketing; an unreadable or leading placeholder is rejected, with why."""
    assert review(document(body, category)) == verdict


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ([], "the body must be a JSON object"),
        (document("x") | {"name": "Order Note"}, "Param name must be lower case"),
        (document("x") | {"language": ""}, "Param language is required"),
        (document("x", "SERVICE"), "Param category must be one of MARKETING, UTILITY, AUTHENTICATION"),
        (document("x") | {"components": [{"type": "HEADER", "text": "x"}]}, "Param components must be a list"),
    ],
)
def test_a_submission_meta_cannot_take_says_why(given: Any, why: str) -> None:
    """What a submission lacks is named as Meta names it."""
    found = problem(given)
    assert found is not None
    assert found.startswith(why)


@pytest.fixture
async def sandbox(aiohttp_client: Callable[..., Awaitable[Client]], make_settings: Callable[..., Settings]) -> Client:
    app = create_app(make_settings(access_token=None), migrate=True, roles={"web"})
    client = await aiohttp_client(app)
    app[SANDBOX_REVIEWS].delay = 3600.0  # no verdict during these tests: only the answers are looked at
    return client


def api(client: Client, session: aiohttp.ClientSession, account: str = WABA, token: str = "t") -> TemplateAPI:
    return TemplateAPI(session, base_url=str(client.make_url("/sandbox")), version="v25.0", account_id=account,
                       phone_number_id="106540352242922", access_token=token)  # fmt: skip


async def test_the_template_api_answers_as_meta_does(sandbox: Client) -> None:
    """Submitted: PENDING with an id; listed with its status; a second one of the same name and language refused."""
    async with aiohttp.ClientSession() as session:
        graph = api(sandbox, session)
        submitted = await graph.submit(document("Hi {{customer_name}}, your order has shipped."))
        assert (submitted.status, submitted.category) == ("PENDING", "UTILITY")
        assert submitted.id is not None
        listed = await graph.templates()
        assert [(t["id"], t["name"], t["status"]) for t in listed] == [(submitted.id, "order_note", "PENDING")]
        with pytest.raises(CloudAPIError, match="already exists") as refused:
            await graph.submit(document("Hi {{customer_name}}, again."))
        assert refused.value.error_code == 100
        edited = await graph.edit(submitted.id, document("Hi {{customer_name}}, it has shipped."))
        assert edited.id == submitted.id
        number = await graph.number()
        assert (number["quality_rating"], number["messaging_limit_tier"]) == ("GREEN", "TIER_250")


async def test_another_account_and_a_bad_token_are_refused(sandbox: Client) -> None:
    """An account the sandbox does not play is Meta's 100; no bearer token is Meta's 190; neither echoes a token."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(CloudAPIError, match="does not exist") as unknown:
            await api(sandbox, session, account="999").templates()
        assert unknown.value.error_code == 100
        with pytest.raises(CloudAPIError) as unauthorised:
            await api(sandbox, session, token=" ").submit(document("Hi {{customer_name}}, shipped."))
        assert unauthorised.value.error_code == 190
