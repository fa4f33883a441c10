"""The one-time code service and its API: pacing, sending through the outbox, verifying, and secrecy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.errors import OTPRefused, ValidationError
from bot.message_templates.library import TemplateLibrary
from bot.otp import core as otp
from bot.otp.service import PURPOSES, OtpService
from bot.settings import Settings
from storage.models import OTP_CHALLENGE, OUTBOX, OutboxBase
from storage.outbox import PRIORITY
from storage.repository import Repository
from tests.api.test_app import ClientFactory, assert_error, post_webhook, start_app
from tests.conftest import FakeClock, text_webhook

Client = TestClient[web.Request, web.Application]
KEY = "test-secret-key"
NUMBER = "31611112222"


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary.load(Path("templates"))


@pytest.fixture
def service(repository: Repository, library: TemplateLibrary, clock: FakeClock) -> OtpService:
    return OtpService(repository, library, KEY, clock)


async def outbox_rows(repo: Repository) -> list[OutboxBase]:
    async with repo.engine.connect() as conn:
        return [OutboxBase.model_validate(r._mapping) for r in await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))]


def code_in(row: OutboxBase) -> str:
    """The code as the queued authentication template carries it (the body's one parameter)."""
    [body] = [c for c in row.payload["template"]["components"] if c["type"] == "body"]
    return str(body["parameters"][0]["text"])


async def latest_code(repo: Repository) -> str:
    return code_in((await outbox_rows(repo))[-1])


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_request_queues_the_purpose_template_ahead_of_other_kinds(
    service: OtpService, repository: Repository
) -> None:
    """A request queues one otp-kind row of the purpose's authentication template, with a per-challenge key."""
    await service.request_code(NUMBER, "account_setup")
    [row] = await outbox_rows(repository)
    assert (row.kind, row.priority, row.status) == ("otp", PRIORITY["otp"], "queued")
    assert row.priority < PRIORITY["utility"]
    assert (row.template_name, row.template_category) == ("account_setup_code", "authentication")
    assert row.recipient == NUMBER
    assert row.idempotency_key is not None
    assert row.idempotency_key.startswith("otp:")
    code = code_in(row)
    assert len(code) == otp.CODE_DIGITS
    assert code.isdigit()
    buttons = [c for c in row.payload["template"]["components"] if c["type"] == "button"]
    assert buttons[0]["parameters"][0]["text"] == code


async def test_only_a_digest_is_stored(service: OtpService, repository: Repository) -> None:
    """The challenge row holds the code's HMAC, never the code."""
    await service.request_code(NUMBER, "login")
    code = await latest_code(repository)
    async with repository.engine.connect() as conn:
        [row] = (await conn.execute(select(OTP_CHALLENGE))).all()
    assert code not in str(tuple(row))
    assert row.digest == otp.code_digest(KEY, purpose="login", contact=NUMBER, code=code)


async def test_an_unknown_number_gets_a_contact_and_the_same_treatment(
    service: OtpService, repository: Repository
) -> None:
    """A number never seen gets a contact row (the send needs one) and its code like any other."""
    assert await repository.contact_by_wa_id(NUMBER) is None
    await service.request_code(NUMBER, "login")
    contact = await repository.contact_by_wa_id(NUMBER)
    assert contact is not None
    [row] = await outbox_rows(repository)
    assert row.contact_id == contact.id


async def test_a_right_code_verifies_once(service: OtpService, repository: Repository) -> None:
    """The right code verifies, and a second use of it does not."""
    await service.request_code(NUMBER, "login")
    code = await latest_code(repository)
    assert await service.verify_code(NUMBER, "login", code) is True
    assert await service.verify_code(NUMBER, "login", code) is False


async def test_a_code_is_bound_to_its_number_and_purpose(service: OtpService, repository: Repository) -> None:
    """A code verifies neither for another purpose nor for another number."""
    await service.request_code(NUMBER, "login")
    code = await latest_code(repository)
    assert await service.verify_code(NUMBER, "account_setup", code) is False
    assert await service.verify_code("31699999999", "login", code) is False
    assert await service.verify_code(NUMBER, "login", code) is True


async def test_five_wrong_tries_end_the_code(service: OtpService, repository: Repository) -> None:
    """After five wrong codes even the right one is refused."""
    await service.request_code(NUMBER, "login")
    code = await latest_code(repository)
    for _ in range(otp.MAX_FAILURES):
        assert await service.verify_code(NUMBER, "login", wrong(code)) is False
    assert await service.verify_code(NUMBER, "login", code) is False


async def test_failures_carry_over_to_a_resent_code(
    service: OtpService, repository: Repository, clock: FakeClock
) -> None:
    """Wrong tries on one code count against the next one sent inside the window."""
    await service.request_code(NUMBER, "login")
    first = await latest_code(repository)
    for _ in range(otp.MAX_FAILURES - 1):
        assert await service.verify_code(NUMBER, "login", wrong(first)) is False
    clock.advance(seconds=31)
    await service.request_code(NUMBER, "login")
    second = await latest_code(repository)
    assert await service.verify_code(NUMBER, "login", wrong(second)) is False
    assert await service.verify_code(NUMBER, "login", second) is False
    with pytest.raises(OTPRefused) as refused:
        await service.request_code(NUMBER, "login")
    assert refused.value.reason == "locked"


async def test_a_code_expires_after_ten_minutes(service: OtpService, repository: Repository, clock: FakeClock) -> None:
    """A right code typed once its ten minutes are over does not verify."""
    await service.request_code(NUMBER, "login")
    code = await latest_code(repository)
    clock.advance(seconds=otp.CODE_LIFE.total_seconds())
    assert await service.verify_code(NUMBER, "login", code) is False


async def test_only_the_latest_code_counts(service: OtpService, repository: Repository, clock: FakeClock) -> None:
    """After a resend, the earlier code no longer verifies."""
    await service.request_code(NUMBER, "login")
    first = await latest_code(repository)
    clock.advance(seconds=31)
    await service.request_code(NUMBER, "login")
    second = await latest_code(repository)
    if first != second:
        assert await service.verify_code(NUMBER, "login", first) is False
    assert await service.verify_code(NUMBER, "login", second) is True


async def test_resends_are_paced(service: OtpService, repository: Repository, clock: FakeClock) -> None:
    """30 s must pass between sends, at most five go out in ten minutes, a refusal queues nothing and says when."""
    start = clock.now
    await service.request_code(NUMBER, "login")
    with pytest.raises(OTPRefused) as refused:
        await service.request_code(NUMBER, "login")
    assert (refused.value.reason, refused.value.retry_at) == ("too_soon", start + otp.RESEND_GAP)
    assert [row.due_at for row in await outbox_rows(repository)] == [start]
    for _ in range(otp.MAX_SENDS - 1):
        clock.advance(seconds=30)
        await service.request_code(NUMBER, "login")
    clock.advance(seconds=30)
    with pytest.raises(OTPRefused) as refused:
        await service.request_code(NUMBER, "login")
    assert (refused.value.reason, refused.value.retry_at) == ("too_many", start + otp.SEND_WINDOW)
    paced = [start + n * otp.RESEND_GAP for n in range(otp.MAX_SENDS)]
    rows = await outbox_rows(repository)
    assert [(row.kind, row.recipient, row.template_name, row.due_at) for row in rows] == [
        ("otp", NUMBER, "login_code", when) for when in paced
    ]
    clock.now = start + otp.SEND_WINDOW
    await service.request_code(NUMBER, "login")
    rows = await outbox_rows(repository)
    assert [(row.recipient, row.due_at) for row in rows] == [(NUMBER, when) for when in [*paced, clock.now]]
    assert len({row.idempotency_key for row in rows}) == len(rows)  # a challenge and a code of its own each


async def test_pacing_is_per_number_and_purpose(service: OtpService, repository: Repository, clock: FakeClock) -> None:
    """A code for one purpose or number does not hold back another: all three are queued at once."""
    await service.request_code(NUMBER, "login")
    await service.request_code(NUMBER, "account_setup")
    await service.request_code("31633334444", "login")
    rows = await outbox_rows(repository)
    assert [(row.kind, row.recipient, row.template_name, row.due_at) for row in rows] == [
        ("otp", NUMBER, "login_code", clock.now),
        ("otp", NUMBER, "account_setup_code", clock.now),
        ("otp", "31633334444", "login_code", clock.now),
    ]


async def test_an_unknown_purpose_names_the_allowed_ones(service: OtpService) -> None:
    """Asking for a purpose with no template is a validation error listing the purposes there are."""
    with pytest.raises(ValidationError) as error:
        await service.request_code(NUMBER, "password_reset")
    assert all(purpose in error.value.message for purpose in PURPOSES)
    with pytest.raises(ValidationError):
        await service.verify_code(NUMBER, "password_reset", "123456")


async def test_each_purpose_has_an_authentication_template(library: TemplateLibrary) -> None:
    """Every purpose's template exists and is of the authentication category."""
    for name in PURPOSES.values():
        assert library.get(name).category == "authentication"


# --- the API ----------------------------------------------------------------------------------------


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, clock: FakeClock) -> Client:
    client, _ = await start_app(aiohttp_client, settings, clock, roles={"web"})
    return client


async def start_known(client: Client, auth: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A number the service knows: it wrote to the business first."""
    known = "31677778888"
    await post_webhook(client, text_webhook(wa_id=known))
    resp = await client.get(f"/api/contacts/{known}", headers=auth)
    assert resp.status == 200
    return known, await resp.json()


async def post(client: Client, path: str, auth: dict[str, str], body: Any) -> tuple[int, Any, Any]:
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
    resp = await client.post(path, headers=auth, **kwargs)
    return resp.status, await resp.json(), resp.headers


async def test_api_answers_the_same_for_known_and_unknown_numbers(client: Client, auth: dict[str, str]) -> None:
    """POST /api/otp answers 202 {"status": "sent"} for any well-formed number."""
    known, _ = await start_known(client, auth)
    answers = [(await post(client, "/api/otp", auth, {"wa_id": n, "purpose": "login"}))[:2] for n in (known, NUMBER)]
    assert answers == [(202, {"status": "sent"})] * 2


async def test_api_refusal_is_429_with_retry_after(client: Client, auth: dict[str, str], clock: FakeClock) -> None:
    """A resend inside 30 s is 429 with the seconds to wait in Retry-After."""
    body = {"wa_id": NUMBER, "purpose": "login"}
    assert (await post(client, "/api/otp", auth, body))[0] == 202
    clock.advance(seconds=10)
    status, answer, headers = await post(client, "/api/otp", auth, body)
    assert status == 429
    assert_error(answer, "otp_refused")
    assert headers["Retry-After"] == "20"


@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        ("/api/otp", "{not json", "JSON"),
        ("/api/otp", "[1, 2]", "JSON object"),
        ("/api/otp", {"wa_id": NUMBER}, "purpose"),
        ("/api/otp", {"wa_id": 31611112222, "purpose": "login"}, "wa_id"),
        ("/api/otp", {"wa_id": "+31 6", "purpose": "login"}, "wa_id"),
        ("/api/otp", {"wa_id": NUMBER, "purpose": "reset"}, "account_setup"),
        ("/api/otp/verify", {"wa_id": NUMBER, "purpose": "login"}, "code"),
        ("/api/otp/verify", {"wa_id": NUMBER, "purpose": "login", "code": 123456}, "code"),
        ("/api/otp/verify", {"wa_id": NUMBER, "purpose": "login", "code": "1" * 40}, "code"),
        ("/api/otp/verify", {"wa_id": NUMBER, "purpose": "nope", "code": "123456"}, "login"),
    ],
)
async def test_api_rejects_bad_bodies(client: Client, auth: dict[str, str], path: str, body: Any, names: str) -> None:
    """Bad JSON, missing or mistyped fields and unknown purposes are 400 with a message naming the problem."""
    status, answer, _ = await post(client, path, auth, body)
    assert status == 400
    assert names in assert_error(answer, "invalid_request")


async def test_api_verify_answers_a_boolean(client: Client, auth: dict[str, str]) -> None:
    """POST /api/otp/verify answers {"verified": false} for a wrong code or a number without one."""
    body = {"wa_id": NUMBER, "purpose": "login", "code": "000000"}
    assert (await post(client, "/api/otp/verify", auth, body))[:2] == (200, {"verified": False})


async def test_api_needs_the_admin_token(client: Client) -> None:
    """The OTP endpoints are admin API: no bearer token, no code."""
    resp = await client.post("/api/otp", json={"wa_id": NUMBER, "purpose": "login"})
    assert resp.status == 401
