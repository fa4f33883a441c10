"""The outbox and its senders: rules at send time, Meta's errors, leases, and racing senders."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import SendOutcomeUnknown
from bot.media.upload import PROJECT_FILE, ProjectMedia, project_file_message
from bot.metrics import Metrics
from bot.otp.core import CODE_LIFE
from bot.outbound.send_policy import SendPolicy
from bot.outbound.sender import Sender
from bot.whatsapp.client import CloudAPIClient, RecordedRequest, RecordingTransport
from bot.whatsapp.message_body import template_message, text_message
from bot.whatsapp.webhook_parser import parse_payload
from storage.consent import OPT_IN, ConsentChange, record
from storage.inbox import Delivery
from storage.models import CONVERSATION, MESSAGE, OUTBOX, OutboxBase
from storage.outbox import NewMessage
from storage.repository import DatabaseUnavailable, Repository
from tests.conftest import FakeClock, text_webhook

ERROR = {"error": {"message": "x", "type": "OAuthException", "code": 0, "fbtrace_id": "T"}}


def meta_error(code: int) -> tuple[int, Any]:
    return 400, {"error": {**ERROR["error"], "code": code}}


def make_sender(repo: Repository, transport: RecordingTransport, clock: FakeClock, **kw: Any) -> Sender:
    client = CloudAPIClient(
        transport=transport, base_url="http://graph.test", version="v25.0", phone_number_id="1", access_token="t"
    )
    return Sender(repo, client, clock=clock, metrics=Metrics(), code_life=CODE_LIFE, throughput=1000, **kw)


async def customer_writes(repo: Repository, clock: FakeClock, wa_id: str, n: int = 0) -> int:
    """Store an inbound message from `wa_id` (opening the service window) and return the contact id."""
    payload = text_webhook(wa_id=wa_id, wamid=f"wamid.in.{wa_id}.{n}", timestamp=clock.now)
    await repo.store_deliveries([Delivery(body="{}", parsed=parse_payload(payload))])
    contact = await repo.contact_by_wa_id(wa_id)
    assert contact is not None
    assert contact.id is not None
    return contact.id


def reply(contact_id: int, wa_id: str, body: str, clock: FakeClock, **kw: Any) -> NewMessage:
    return NewMessage(
        kind=kw.pop("kind", "reply"),
        contact_id=contact_id,
        recipient=wa_id,
        payload=kw.pop("payload", None) or text_message(wa_id, body),
        due_at=kw.pop("due_at", clock.now),
        **kw,
    )


async def outbox_rows(repo: Repository) -> list[OutboxBase]:
    async with repo.engine.connect() as conn:
        rows = await conn.execute(select(OUTBOX).order_by(OUTBOX.c.id))
        return [OutboxBase.model_validate(r._mapping) for r in rows]


async def drain(*senders: Sender, rounds: int = 50) -> None:
    for _ in range(rounds):
        counts = await asyncio.gather(*(s.run_once() for s in senders))
        if not any(counts):
            return


async def test_free_form_reply_opens_a_service_conversation(repository: Repository, clock: FakeClock) -> None:
    """A reply inside the window is sent, recorded with its wamid, and opens a 24 h service conversation."""
    cid = await customer_writes(repository, clock, "31600000001")
    await repository.enqueue([reply(cid, "31600000001", "hi", clock)], clock.now)
    transport = RecordingTransport()
    await drain(make_sender(repository, transport, clock))
    [row] = await outbox_rows(repository)
    assert row.status == "sent"
    assert row.wamid == "wamid.test.1"
    assert row.category == "service"
    conversations = await repository.list_conversations(wa_id="31600000001", category=None, limit=10, before=None)
    assert [(c["category"], c["origin"]) for c in conversations] == [("service", "user_initiated")]
    assert conversations[0]["expires_at"] - conversations[0]["opened_at"] == timedelta(hours=24)


async def test_free_form_outside_the_window_is_refused_locally(repository: Repository, clock: FakeClock) -> None:
    """A free-form message to a contact who last wrote 25 h ago fails without any request to Meta."""
    cid = await customer_writes(repository, clock, "31600000002")
    clock.advance(hours=25)
    await repository.enqueue([reply(cid, "31600000002", "late", clock)], clock.now)
    transport = RecordingTransport()
    await drain(make_sender(repository, transport, clock))
    [row] = await outbox_rows(repository)
    assert row.status == "failed"
    assert row.last_error is not None
    assert row.last_error["code"] == "outside_service_window"
    assert transport.requests == []


async def test_templates_open_their_own_category(repository: Repository, clock: FakeClock) -> None:
    """A utility template opens a utility conversation beside an open service one; a second joins it."""
    wa = "31600000003"
    cid = await customer_writes(repository, clock, wa)
    tpl = template_message(wa, "order_update", "en", body_params=["42"])
    await repository.enqueue(
        [
            reply(cid, wa, "hello", clock),
            reply(
                cid,
                wa,
                "",
                clock,
                kind="utility",
                payload=tpl,
                template_name="order_update",
                template_category="utility",
            ),
            reply(
                cid,
                wa,
                "",
                clock,
                kind="utility",
                payload=tpl,
                template_name="order_update",
                template_category="utility",
                due_at=clock.now + timedelta(seconds=1),
            ),
        ],
        clock.now,
    )
    sender = make_sender(repository, RecordingTransport(), clock)
    await drain(sender)
    clock.advance(seconds=2)
    await drain(sender)
    conversations = await repository.list_conversations(wa_id=wa, category=None, limit=10, before=None)
    assert sorted(c["category"] for c in conversations) == ["service", "utility"]
    messages = await repository.list_messages(wa_id=wa, direction="out", limit=10, before=None)
    assert sorted(m["category"] for m in messages) == ["service", "utility", "utility"]


async def test_pair_rate_error_defers_only_that_recipient(repository: Repository, clock: FakeClock) -> None:
    """131056 for one user holds that user's queue for 4^n s while another user's message goes out."""
    slow, fast = "31600000004", "31600000005"
    cid_slow = await customer_writes(repository, clock, slow)
    cid_fast = await customer_writes(repository, clock, fast)

    def answer(request: RecordedRequest) -> tuple[int, Any]:
        if request.json["to"] == slow:
            return meta_error(131056)
        return 200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.ok.{request.json['to']}"}]}

    await repository.enqueue(
        [reply(cid_slow, slow, "1", clock), reply(cid_slow, slow, "2", clock), reply(cid_fast, fast, "x", clock)],
        clock.now,
    )
    await drain(make_sender(repository, RecordingTransport(answer), clock))
    rows = {(r.recipient, r.payload["text"]["body"]): r for r in await outbox_rows(repository)}
    assert rows[(fast, "x")].status == "sent"
    assert rows[(slow, "1")].status == "queued"
    assert rows[(slow, "2")].status == "queued"
    assert rows[(slow, "1")].due_at == clock.now + timedelta(seconds=4)
    assert rows[(slow, "2")].due_at >= rows[(slow, "1")].due_at


@pytest.mark.parametrize(
    ("code", "status"),
    [(130429, "queued"), (131000, "queued"), (131026, "failed"), (132001, "failed"), (131047, "failed")],
)
async def test_meta_errors_retry_or_fail_by_code(
    repository: Repository, clock: FakeClock, code: int, status: str
) -> None:
    """Retryable codes put the row back with a later due time; permanent ones fail it with the code."""
    cid = await customer_writes(repository, clock, "31600000006")
    await repository.enqueue([reply(cid, "31600000006", "x", clock)], clock.now)
    await make_sender(repository, RecordingTransport([meta_error(code)]), clock).run_once()
    [row] = await outbox_rows(repository)
    assert row.status == status
    assert row.last_error is not None
    assert row.last_error["error_code"] == code
    if status == "queued":
        assert row.due_at > clock.now


async def test_expired_leases_are_settled_by_kind(repository: Repository, clock: FakeClock) -> None:
    """Rows left by a dead sender are retried (reply), expired (otp) or marked unknown (marketing)."""
    wa = "31600000007"
    cid = await customer_writes(repository, clock, wa)
    await repository.enqueue(
        [reply(cid, wa, kind, clock, kind=kind, idempotency_key=kind) for kind in ("reply", "otp", "marketing")],
        clock.now,
    )
    claimed = []
    for _ in range(3):  # one per contact at a time, so claim, abandon, and let the next become claimable
        rows = await repository.claim_due(owner="dead", now=clock.now, lease=timedelta(seconds=30), limit=10)
        claimed += rows
        async with repository.transaction() as conn:
            from sqlalchemy import update

            await conn.execute(update(OUTBOX).where(OUTBOX.c.id == rows[0].id).values(status="stuck"))
    async with repository.transaction() as conn:
        from sqlalchemy import update

        await conn.execute(update(OUTBOX).where(OUTBOX.c.status == "stuck").values(status="sending"))
    clock.advance(seconds=31)
    await make_sender(repository, RecordingTransport(), clock).reap()
    assert {r.kind: r.status for r in await outbox_rows(repository)} == {
        "reply": "queued",
        "otp": "expired",
        "marketing": "unknown",
    }


async def test_idempotency_key_stops_double_enqueue(repository: Repository, clock: FakeClock) -> None:
    """Enqueueing the same idempotency key twice stores one row."""
    cid = await customer_writes(repository, clock, "31600000008")
    message = reply(cid, "31600000008", "x", clock, idempotency_key="appointment:42:reminder")
    assert await repository.enqueue([message], clock.now) == 1
    assert await repository.enqueue([message], clock.now) == 0
    assert len(await outbox_rows(repository)) == 1


async def test_statuses_arriving_before_the_wamid_is_recorded_are_applied(
    repository: Repository, clock: FakeClock
) -> None:
    """A delivered webhook that beats the sender's own record still lands on the message."""
    from tests.conftest import status_webhook

    wa = "31600000009"
    cid = await customer_writes(repository, clock, wa)
    early = parse_payload(status_webhook("wamid.test.1", "delivered", recipient=wa))
    await repository.store_deliveries([Delivery(body="{}", parsed=early)])
    await repository.enqueue([reply(cid, wa, "x", clock)], clock.now)
    await drain(make_sender(repository, RecordingTransport(), clock))
    message = await repository.message_by_wamid("wamid.test.1")
    assert message is not None
    assert message.status == "delivered"
    assert message.delivered_at is not None


async def test_two_senders_never_send_twice_and_keep_per_contact_order(
    database_url: str, repository: Repository, clock: FakeClock
) -> None:
    """Two senders on separate connections to one database send 200 messages exactly once, in order per contact."""
    contacts = {f"316100000{n:02d}": await customer_writes(repository, clock, f"316100000{n:02d}") for n in range(20)}
    await repository.enqueue(
        [reply(cid, wa, f"{wa}:{i}", clock) for i in range(10) for wa, cid in contacts.items()], clock.now
    )
    other = Repository.connect(database_url)
    try:
        transport = RecordingTransport()
        await drain(make_sender(repository, transport, clock), make_sender(other, transport, clock), rounds=400)
    finally:
        await other.close()
    bodies = [r.json["text"]["body"] for r in transport.requests]
    assert len(bodies) == 200
    assert len(set(bodies)) == 200
    for wa in contacts:
        sequence = [int(b.split(":")[1]) for b in bodies if b.startswith(wa)]
        assert sequence == list(range(10))
    assert {r.status for r in await outbox_rows(repository)} == {"sent"}
    async with repository.engine.connect() as conn:
        out = (await conn.execute(select(MESSAGE.c.wamid).where(MESSAGE.c.direction == "out"))).all()
        conv = (await conn.execute(select(CONVERSATION.c.contact_id))).all()
    assert len(out) == 200
    assert sorted(c[0] for c in conv) == sorted(contacts.values())  # one service conversation each


def otp_row(cid: int, wa: str, clock: FakeClock, code: str = "482913", **kw: Any) -> NewMessage:
    """An authentication template carrying `code`, as the OTP service enqueues it."""
    from bot.whatsapp.message_body import authentication_message

    payload = authentication_message(wa, "login_code", "en", code)
    return reply(
        cid, wa, "", clock, kind="otp", payload=payload, template_name="login_code",
        template_category="authentication", **kw,
    )  # fmt: skip


async def test_a_sent_code_is_scrubbed_from_the_outbox_and_the_message(
    repository: Repository, clock: FakeClock
) -> None:
    """Once an OTP row is sent, neither its outbox payload nor the recorded message holds the code."""
    wa = "31600000020"
    cid = await customer_writes(repository, clock, wa)
    await repository.enqueue([otp_row(cid, wa, clock), reply(cid, wa, "hello 482913", clock)], clock.now)
    transport = RecordingTransport()
    await drain(make_sender(repository, transport, clock))
    assert "482913" in str(transport.requests[0].json)  # Meta got the code
    otp, text = await outbox_rows(repository)
    assert (otp.status, text.status) == ("sent", "sent")
    assert "482913" not in str(otp.payload)
    assert "[redacted]" in str(otp.payload)
    assert "482913" in str(text.payload)  # only secret-carrying kinds are scrubbed
    assert otp.wamid is not None
    message = await repository.message_by_wamid(otp.wamid)
    assert message is not None
    assert message.template_name == "login_code"
    assert "482913" not in str(message.body)


async def test_a_failed_code_is_scrubbed_from_the_outbox(repository: Repository, clock: FakeClock) -> None:
    """An OTP row that fails for good loses its code too."""
    wa = "31600000021"
    cid = await customer_writes(repository, clock, wa)
    await repository.enqueue([otp_row(cid, wa, clock)], clock.now)
    await drain(make_sender(repository, RecordingTransport([meta_error(131026)]), clock))
    [row] = await outbox_rows(repository)
    assert row.status == "failed"
    assert "482913" not in str(row.payload)


async def test_a_code_whose_lease_expired_is_scrubbed(repository: Repository, clock: FakeClock) -> None:
    """The reaper expires an abandoned OTP row and removes its code from the payload."""
    wa = "31600000022"
    cid = await customer_writes(repository, clock, wa)
    await repository.enqueue([otp_row(cid, wa, clock)], clock.now)
    await repository.claim_due(owner="dead", now=clock.now, lease=timedelta(seconds=30), limit=10)
    clock.advance(seconds=31)
    await make_sender(repository, RecordingTransport(), clock).reap()
    [row] = await outbox_rows(repository)
    assert row.status == "expired"
    assert "482913" not in str(row.payload)
    assert row.payload["template"]["name"] == "login_code"


# -- send-time policies and Meta's codes -------------------------------------------------------------


def utility_row(cid: int, wa: str, clock: FakeClock, name: str = "order_update", **kw: Any) -> NewMessage:
    """A utility template to `wa`, as the notification service enqueues it."""
    payload = kw.pop("payload", None) or template_message(wa, name, kw.pop("language", "en"), body_params=["#1"])
    return reply(
        cid, wa, "", clock, kind="utility", payload=payload, template_name=name, template_category="utility", **kw
    )


async def contact_id(repo: Repository, wa: str, clock: FakeClock) -> int:
    """A contact who never wrote to us (their customer service window is closed)."""
    from storage.otp import ensure_contact

    async with repo.transaction() as conn:
        return await ensure_contact(conn, wa, clock.now)


async def test_every_send_carries_its_callback_data(repository: Repository, clock: FakeClock) -> None:
    """The request names its outbox row in `biz_opaque_callback_data`, which Meta echoes in statuses."""
    wa = "31600000030"
    cid = await customer_writes(repository, clock, wa)
    await repository.enqueue([reply(cid, wa, "x", clock)], clock.now)
    transport = RecordingTransport()
    await drain(make_sender(repository, transport, clock))
    [row] = await outbox_rows(repository)
    assert transport.requests[0].json["biz_opaque_callback_data"] == f"outbox:{row.id}"


async def test_a_send_meta_reported_is_recovered_not_resent(repository: Repository, clock: FakeClock) -> None:
    """A sender that died after Meta took the message leaves it `sent`, recorded once, never sent again."""
    from tests.conftest import status_webhook

    wa = "31600000031"
    cid = await contact_id(repository, wa, clock)
    await repository.enqueue([utility_row(cid, wa, clock)], clock.now)
    [claimed] = await repository.claim_due(owner="dead", now=clock.now, lease=timedelta(seconds=30), limit=10)
    sent = status_webhook("wamid.lost.1", "sent", recipient=wa, biz_opaque_callback_data=f"outbox:{claimed.id}")
    await repository.store_deliveries([Delivery(body="{}", parsed=parse_payload(sent))])
    clock.advance(seconds=31)
    transport = RecordingTransport()
    sender = make_sender(repository, transport, clock)
    await sender.reap()
    await drain(sender)
    [row] = await outbox_rows(repository)
    assert (row.status, row.wamid) == ("sent", "wamid.lost.1")
    assert transport.requests == []
    message = await repository.message_by_wamid("wamid.lost.1")
    assert message is not None
    assert (message.status, message.category, message.outbox_id) == ("sent", "utility", row.id)
    conversations = await repository.list_conversations(wa_id=wa, category=None, limit=10, before=None)
    assert [c["category"] for c in conversations] == ["utility"]


async def test_a_send_meta_never_reported_is_retried_once(repository: Repository, clock: FakeClock) -> None:
    """Without a status for it, an abandoned utility message goes back to the queue and is sent once."""
    wa = "31600000032"
    cid = await contact_id(repository, wa, clock)
    await repository.enqueue([utility_row(cid, wa, clock)], clock.now)
    await repository.claim_due(owner="dead", now=clock.now, lease=timedelta(seconds=30), limit=10)
    clock.advance(seconds=31)
    transport = RecordingTransport()
    sender = make_sender(repository, transport, clock)
    await sender.reap()
    await drain(sender)
    assert len(transport.requests) == 1
    [row] = await outbox_rows(repository)
    assert row.status == "sent"


async def test_undeliverable_number_stops_until_the_customer_writes(repository: Repository, clock: FakeClock) -> None:
    """After 131026 the next message to that number fails without a request; a message from them lifts it."""
    wa = "31600000033"
    cid = await contact_id(repository, wa, clock)
    await repository.enqueue([utility_row(cid, wa, clock, idempotency_key="a")], clock.now)
    transport = RecordingTransport([meta_error(131026)])
    await drain(make_sender(repository, transport, clock))
    contact = await repository.contact_by_wa_id(wa)
    assert contact is not None
    assert contact.undeliverable_at == clock.now
    clock.advance(minutes=1)
    await repository.enqueue([utility_row(cid, wa, clock, idempotency_key="b")], clock.now)
    await drain(make_sender(repository, transport, clock))
    assert len(transport.requests) == 1
    second = (await outbox_rows(repository))[1]
    assert second.status == "failed"
    assert second.last_error is not None
    assert second.last_error["code"] == "undeliverable"
    clock.advance(minutes=1)
    await customer_writes(repository, clock, wa)
    await repository.enqueue([reply(cid, wa, "welcome back", clock)], clock.now)
    await drain(make_sender(repository, RecordingTransport(), clock))
    assert (await outbox_rows(repository))[2].status == "sent"


@pytest.mark.parametrize("code", [132000, 132001, 132015, 132016])
async def test_a_refused_template_is_blocked_and_said_so(repository: Repository, clock: FakeClock, code: int) -> None:
    """A template error blocks that template and language: later sends fail at once, others still go."""
    from storage import policy

    one, two = "31600000034", "31600000035"
    cid_one, cid_two = await contact_id(repository, one, clock), await contact_id(repository, two, clock)
    await repository.enqueue([utility_row(cid_one, one, clock)], clock.now)
    transport = RecordingTransport([meta_error(code)])
    await drain(make_sender(repository, transport, clock))
    await repository.enqueue(
        [utility_row(cid_two, two, clock), utility_row(cid_two, two, clock, name="payment_received", due_at=clock.now)],
        clock.now,
    )
    transport.answer((200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.other"}]}))
    await drain(make_sender(repository, transport, clock))
    rows = await outbox_rows(repository)
    assert [r.status for r in rows] == ["failed", "failed", "sent"]
    assert rows[1].last_error is not None
    assert rows[1].last_error["code"] == "template_blocked"
    assert f"WhatsApp error {code}" in rows[1].last_error["message"]
    assert [r.json["template"]["name"] for r in transport.requests] == ["order_update", "payment_received"]
    async with repository.transaction() as conn:
        assert list(await policy.blocked_templates(conn)) == [("order_update", "en")]
        assert await policy.unblock_template(conn, name="order_update") == 1


async def test_quiet_hours_hold_without_spending_an_attempt(repository: Repository, clock: FakeClock) -> None:
    """A utility message at 23:00 waits until 08:00 and is then sent; a code at 23:00 goes at once."""
    from datetime import UTC, datetime, time
    from zoneinfo import ZoneInfo

    from bot.outbound.send_policy import SendPolicy
    from bot.settings import QuietHours

    clock.now = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
    wa = "31600000036"
    cid = await contact_id(repository, wa, clock)
    await repository.enqueue([utility_row(cid, wa, clock), otp_row(cid, wa, clock, due_at=clock.now)], clock.now)
    policy = SendPolicy(ZoneInfo("UTC"), QuietHours(time(21), time(8)))
    transport = RecordingTransport()
    await drain(make_sender(repository, transport, clock, send_policy=policy))
    assert [r.json["template"]["name"] for r in transport.requests] == ["login_code"]
    held = next(r for r in await outbox_rows(repository) if r.kind == "utility")
    assert (held.status, held.attempts, held.due_at) == ("queued", 0, datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    assert held.last_error is not None
    assert held.last_error["code"] == "quiet_hours"
    clock.now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    await drain(make_sender(repository, transport, clock, send_policy=policy))
    assert [r.json["template"]["name"] for r in transport.requests] == ["login_code", "order_update"]


async def test_the_messaging_limit_holds_new_users_until_one_drops_out(
    repository: Repository, clock: FakeClock
) -> None:
    """With the tier spent, a new user outside their window waits; one who wrote to us does not."""
    from zoneinfo import ZoneInfo

    from bot.outbound.send_policy import SendPolicy

    policy = SendPolicy(ZoneInfo("UTC"), messaging_limit=2)
    numbers = [f"3160000004{n}" for n in range(3)]
    ids = [await contact_id(repository, wa, clock) for wa in numbers]
    await repository.enqueue([utility_row(cid, wa, clock) for cid, wa in zip(ids, numbers, strict=True)], clock.now)
    transport = RecordingTransport()
    await drain(make_sender(repository, transport, clock, send_policy=policy))
    assert len(transport.requests) == 2
    [held] = [r for r in await outbox_rows(repository) if r.status == "queued"]
    assert held.last_error is not None
    assert held.last_error["code"] == "messaging_limit"
    assert held.due_at == clock.now + timedelta(hours=24)
    chatting = await customer_writes(repository, clock, "31600000049")
    await repository.enqueue([utility_row(chatting, "31600000049", clock)], clock.now)
    await drain(make_sender(repository, transport, clock, send_policy=policy))
    assert len(transport.requests) == 3
    clock.advance(hours=24, seconds=1)
    await drain(make_sender(repository, transport, clock, send_policy=policy))
    assert len(transport.requests) == 4


async def test_a_message_whose_reason_went_away_is_not_sent(repository: Repository, clock: FakeClock) -> None:
    """A reminder for an appointment cancelled after it was queued is cancelled at send time, unsent."""
    from datetime import timedelta as td

    from storage import business
    from storage.models import AppointmentBase

    wa = "31600000037"
    cid = await contact_id(repository, wa, clock)
    async with repository.transaction() as conn:
        appointment = await business.add_appointment(
            conn, AppointmentBase(contact_id=cid, service="Cut", starts_at=clock.now + td(hours=3), location="Shop")
        )
        await business.update_appointment(conn, appointment.id or 0, {"status": "cancelled"})
    await repository.enqueue([utility_row(cid, wa, clock, subject=f"appointment:{appointment.id}")], clock.now)
    transport = RecordingTransport()
    await drain(make_sender(repository, transport, clock))
    assert transport.requests == []
    [row] = await outbox_rows(repository)
    assert row.status == "cancelled"
    assert row.last_error == {"code": "not_wanted", "message": f"appointment {appointment.id} is cancelled"}


async def test_a_superseded_code_is_never_sent(repository: Repository, clock: FakeClock) -> None:
    """When a newer code was requested before the first went out, only the newer one is sent."""
    from bot.message_templates.library import TemplateLibrary
    from bot.otp.service import OtpService

    service = OtpService(repository, TemplateLibrary.load(Path("templates")), "k", clock)
    wa = "31600000038"
    await service.request_code(wa, "login")
    clock.advance(seconds=31)
    await service.request_code(wa, "login")
    transport = RecordingTransport()
    await drain(make_sender(repository, transport, clock))
    assert len(transport.requests) == 1
    first, second = await outbox_rows(repository)
    assert (first.status, second.status) == ("cancelled", "sent")
    assert first.last_error == {"code": "not_wanted", "message": "a newer code was requested"}
    assert "[redacted]" in str(first.payload)


async def test_a_code_never_sent_in_its_life_expires_unsent(repository: Repository, clock: FakeClock) -> None:
    """A code still queued 10 minutes on (the senders were down) is expired and blanked, never sent."""
    wa = "31600000039"
    cid = await contact_id(repository, wa, clock)
    await repository.enqueue([otp_row(cid, wa, clock)], clock.now)
    clock.advance(minutes=10, seconds=1)
    transport = RecordingTransport()
    sender = make_sender(repository, transport, clock)
    await sender.reap()
    await drain(sender)
    assert transport.requests == []
    [row] = await outbox_rows(repository)
    assert row.status == "expired"
    assert "482913" not in str(row.payload)


async def test_stopping_settles_the_sends_in_flight(repository: Repository, clock: FakeClock) -> None:
    """A sender asked to stop mid-send waits for Meta's answer and records it, leaving nothing leased."""
    from bot.loop import stop_all

    class SlowTransport(RecordingTransport):
        def __init__(self) -> None:
            super().__init__()
            self.arrived = asyncio.Event()
            self.release = asyncio.Event()

        async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
            self.arrived.set()
            await self.release.wait()
            return await super().post(url, json=json, headers=headers)

    wa = "31600000050"
    cid = await customer_writes(repository, clock, wa)
    await repository.enqueue([reply(cid, wa, "x", clock)], clock.now)
    transport = SlowTransport()
    sender = make_sender(repository, transport, clock)
    task = asyncio.create_task(sender.run())
    await asyncio.wait_for(transport.arrived.wait(), 5)
    stopping = asyncio.create_task(stop_all([sender], [task], grace=5))
    await asyncio.sleep(0.05)
    assert not task.done()  # still waiting for the answer, not cancelled
    transport.release.set()
    await asyncio.wait_for(stopping, 5)
    [row] = await outbox_rows(repository)
    assert (row.status, row.lease_owner) == ("sent", None)


async def test_outbox_after_lists_one_contacts_rows_since_an_id(repository: Repository, clock: FakeClock) -> None:
    """`outbox_after` answers only the recipient's rows queued after the given id, oldest first."""
    ana = await customer_writes(repository, clock, "31600000091")
    bob = await customer_writes(repository, clock, "31600000092")
    messages = [reply(ana, "31600000091", "one", clock), reply(bob, "31600000092", "other", clock)]
    await repository.enqueue([*messages, reply(ana, "31600000091", "two", clock)], clock.now)
    rows = await repository.outbox_after(0, recipient="31600000091")
    assert [r.payload["text"]["body"] for r in rows] == ["one", "two"]
    later = await repository.outbox_after(rows[0].id or 0, recipient="31600000091")
    assert [r.payload["text"]["body"] for r in later] == ["two"]


async def test_next_due_at_is_the_earliest_queued_row_after_a_time(repository: Repository, clock: FakeClock) -> None:
    """`next_due_at` answers the earliest due time of a queued row strictly after the one given, else None."""
    cid = await customer_writes(repository, clock, "31600000093")
    soon, later = clock.now + timedelta(minutes=5), clock.now + timedelta(hours=1)
    due = [reply(cid, "31600000093", str(n), clock, due_at=at) for n, at in enumerate((clock.now, later, soon))]
    await repository.enqueue(due, clock.now)
    assert await repository.next_due_at(clock.now) == soon
    assert await repository.next_due_at(soon) == later
    assert await repository.next_due_at(later) is None


def starved_at_the_throttle(sender: Sender, clock: FakeClock, seconds: float) -> None:
    """Every send waits `seconds` at the throttle first (a starved process, a small share of the limit)."""
    sending = sender._throttle.sending

    @contextlib.asynccontextmanager
    async def late(priority: int = 0) -> AsyncIterator[None]:
        async with sending(priority):
            clock.advance(seconds=seconds)
            yield

    sender._throttle.sending = late  # type: ignore[method-assign]


async def test_a_batch_whose_lease_is_half_spent_renews_it_and_sends(repository: Repository, clock: FakeClock) -> None:
    """When the wait before a send has used half the lease, the batch's leases are renewed and the send goes."""
    cid = await customer_writes(repository, clock, "31600000091")
    await repository.enqueue([reply(cid, "31600000091", "late", clock)], clock.now)
    transport = RecordingTransport()
    sender = make_sender(repository, transport, clock)  # a 60 s lease
    starved_at_the_throttle(sender, clock, 40)
    await sender.run_once()
    [row] = await outbox_rows(repository)
    assert len(transport.requests) == 1
    assert (row.status, row.attempts) == ("sent", 1)


async def test_a_renewal_that_comes_back_late_is_not_trusted_to_send(repository: Repository, clock: FakeClock) -> None:
    """Every renewal answers with half the lease already gone (a locked database): the row is queued again, unsent.

    A reaper could take such a row mid-send and queue it again: a reply would go twice. Seen with SQLite
    locked longer than half the lease (tests/faults/test_database.py).
    """
    cid = await customer_writes(repository, clock, "31600000091")
    await repository.enqueue([reply(cid, "31600000091", "late", clock)], clock.now)

    def slow_clock() -> Any:  # every reading of the time is 40 s after the last: each renewal took that long
        return clock.advance(seconds=40)

    transport = RecordingTransport()
    await make_sender(repository, transport, slow_clock).run_once()
    [row] = await outbox_rows(repository)
    assert transport.requests == []
    assert (row.status, row.lease_owner, row.last_error["code"]) == ("queued", None, "lease_not_renewed")


async def test_a_reaper_leaves_its_own_senders_rows_alone(repository: Repository, clock: FakeClock) -> None:
    """Rows a sender still has in hand are not taken by its own reaper, whatever their lease says."""
    ana, bob = [await customer_writes(repository, clock, wa_id) for wa_id in ("31600000091", "31600000092")]
    await repository.enqueue(
        [reply(ana, "31600000091", "one", clock), reply(bob, "31600000092", "two", clock)], clock.now
    )
    lease = timedelta(seconds=5)
    one, two = await repository.claim_due(owner="a", now=clock.now, lease=lease, limit=10)
    assert one.id is not None
    later = clock.advance(seconds=10)
    taken, _ = await repository.take_expired_leases(owner="a", now=later, lease=lease, limit=10, flying=[one.id])
    assert [r.id for r in taken] == [two.id]


async def test_a_batch_is_in_its_senders_hands_from_the_claim_before_its_task_runs(
    repository: Repository, clock: FakeClock
) -> None:
    """A claim that waited out a locked database, then a reap before the batch's task starts: nothing is taken.

    The sender's loop claims, hands the batch to a task and may reap at once; the claim's leases were
    stamped before the wait. Reaped there, the rows went back to the queue while the batch still sent them.
    """
    cid = await customer_writes(repository, clock, "31600000093")
    await repository.enqueue([reply(cid, "31600000093", "hi", clock)], clock.now)
    sender = make_sender(repository, RecordingTransport(), clock, lease=timedelta(seconds=5))
    [claimed] = await sender._claim()
    clock.advance(seconds=10)  # the lease ran out while the claim waited; the batch's task has not started
    await sender.reap()
    [row] = await outbox_rows(repository)
    assert (row.status, row.lease_owner) == ("sending", sender.owner)
    await sender._deliver([claimed])
    [row] = await outbox_rows(repository)
    assert row.status == "sent"


async def test_a_lease_taken_over_by_another_sender_is_not_renewed(repository: Repository, clock: FakeClock) -> None:
    """Renewing answers only the rows the sender still holds: one a reaper took over is no longer its own."""
    from datetime import timedelta

    cid = await customer_writes(repository, clock, "31600000092")
    await repository.enqueue([reply(cid, "31600000092", "hi", clock)], clock.now)
    lease = timedelta(seconds=60)
    [claimed] = await repository.claim_due(owner="a", now=clock.now, lease=lease, limit=10)
    assert claimed.id is not None
    assert await repository.renew_leases(owner="a", ids=[claimed.id], now=clock.now, lease=lease) == {claimed.id}
    clock.advance(seconds=61)
    taken, _ = await repository.take_expired_leases(owner="b", now=clock.now, lease=lease, limit=10)
    assert [r.id for r in taken] == [claimed.id]
    assert await repository.renew_leases(owner="a", ids=[claimed.id], now=clock.now, lease=lease) == set()


@pytest.mark.parametrize(("kind", "status"), [("reply", "queued"), ("marketing", "unknown")])
async def test_a_send_with_no_answer_is_retried_or_unknown_by_kind(
    repository: Repository, clock: FakeClock, kind: str, status: str
) -> None:
    """No answer from Meta (a timeout): a reply goes back to the queue; marketing is `unknown` and never sent again."""
    wa = "31600000031"
    cid = await customer_writes(repository, clock, wa)
    async with repository.transaction() as conn:
        await record(conn, [ConsentChange(cid, OPT_IN, "api", {"by": "test"}, clock.now)], clock.now)
    template = {"payload": template_message(wa, "promo", "en"), "template_category": "marketing"}
    await repository.enqueue(
        [reply(cid, wa, "x", clock, kind=kind, **(template if kind == "marketing" else {}))], clock.now
    )
    lost = RecordingTransport([SendOutcomeUnknown("Cloud API request timed out after 10.0 s")])
    await make_sender(repository, lost, clock).run_once()
    [row] = await outbox_rows(repository)
    assert row.status == status
    assert row.last_error is not None
    assert row.last_error["code"] == "send_outcome_unknown"
    clock.advance(minutes=20)
    answering = RecordingTransport()
    await drain(make_sender(repository, answering, clock))
    assert len(answering.requests) == (1 if kind == "reply" else 0)


class RefusingRepository(Repository):
    """The repository on the test's database, refusing its next `refusals` transactions as a locked SQLite does."""

    refusals = 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        if self.refusals:
            self.refusals -= 1
            raise DatabaseUnavailable("(sqlite3.OperationalError) database is locked")
        async with super().transaction() as conn:
            yield conn

    async def write_whole(self, work: Any) -> Any:
        if self.refusals:
            self.refusals -= 1
            raise DatabaseUnavailable("(sqlite3.OperationalError) database is locked")
        return await super().write_whole(work)


async def test_answers_are_recorded_once_the_database_is_back_not_sent_again(
    repository: Repository, database_url: str, clock: FakeClock
) -> None:
    """Meta took the reply but the database refused its record twice: the sender keeps trying, never resends."""
    cid = await customer_writes(repository, clock, "31600000031")
    await repository.enqueue([reply(cid, "31600000031", "hi", clock)], clock.now)
    refusing = RefusingRepository.connect(database_url)

    def accept_then_lock(request: RecordedRequest) -> tuple[int, Any]:
        refusing.refusals = 2  # the next two transactions are the ones recording Meta's answer
        messages = [{"id": "wamid.accepted"}]
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": "31600000031"}], "messages": messages}

    transport = RecordingTransport(accept_then_lock)
    try:
        with structlog.testing.capture_logs() as logs:
            await drain(make_sender(refusing, transport, clock))
    finally:
        await refusing.close()

    assert refusing.refusals == 0
    assert len(transport.requests) == 1  # sent once; the answer waited for the database, not the message
    [row] = await outbox_rows(repository)
    assert (row.status, row.attempts, row.wamid) == ("sent", 1, "wamid.accepted")
    retries = [e for e in logs if e["event"] == "outbox.record_retry"]
    assert [(e["rows"], e["attempt"], e["wait_s"]) for e in retries] == [(1, 1, 0.2), (1, 2, 0.5)]
    assert all(e["error"] == "(sqlite3.OperationalError) database is locked" for e in retries)


class HeldTransport(RecordingTransport):
    """Meta, slowed down by the test: each send is recorded as it arrives, then answered only when let go."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = asyncio.Semaphore(0)
        self.answered = 0

    async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        answer = await super().post(url, json=json, headers=headers)
        await self.answers.acquire()
        self.answered += 1
        return answer


async def until(condition: Any, rounds: int = 2000) -> None:
    """Let the loop run until `condition()` holds (a bounded number of rounds; no clock involved)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


class SlowLookingRepository(Repository):
    """The test's database, with the clock moving on after a sender's claim that found nothing due."""

    clock: FakeClock

    async def claim_due(self, **kw: Any) -> list[OutboxBase]:
        rows = await super().claim_due(**kw)
        if not rows:
            self.clock.advance(seconds=1)  # a loaded machine: time passed before the sender looked further
        return rows


async def test_a_row_falling_due_between_the_claim_and_the_look_is_not_slept_through(
    repository: Repository, database_url: str, clock: FakeClock
) -> None:
    """The claim found nothing due; by the look for the next due row it was: the sender sends it, not idles an hour."""
    cid = await customer_writes(repository, clock, "31640000002")
    later = reply(cid, "31640000002", "later", clock, due_at=clock.now + timedelta(seconds=0.5))
    await repository.enqueue([later], clock.now)
    looking = SlowLookingRepository.connect(database_url)
    looking.clock = clock
    transport = RecordingTransport()
    sender = make_sender(looking, transport, clock, idle_wait=3600)
    task = asyncio.create_task(sender.run())
    try:
        await until(lambda: len(transport.requests) == 1, rounds=5_000)
    finally:
        sender.stop()
        await task
        await looking.close()
    assert transport.requests[0].json["text"]["body"] == "later"


async def test_with_a_backlog_queued_the_next_claim_takes_the_code_first(
    repository: Repository, clock: FakeClock
) -> None:
    """Replies, utility and marketing due before it, a code queued last is still the first row the next claim takes."""
    wa = [f"3161000{n:04d}" for n in range(41)]
    cids = [await customer_writes(repository, clock, w) for w in wa]
    backlog = [reply(cid, w, f"reply {n}", clock) for n, (cid, w) in enumerate(zip(cids[:40], wa[:40], strict=True))]
    backlog += [
        reply(cid, w, kind, clock, kind=kind, idempotency_key=f"{kind}-{cid}")
        for kind in ("utility", "marketing")
        for cid, w in zip(cids[:40], wa[:40], strict=True)
    ]
    await repository.enqueue(backlog, clock.now)
    clock.advance(seconds=1)
    await repository.enqueue([otp_row(cids[40], wa[40], clock)], clock.now)
    claimed = await repository.claim_due(owner="s", now=clock.now, lease=timedelta(seconds=30), limit=5)
    assert [r.kind for r in claimed] == ["otp", "reply", "reply", "reply", "reply"]


async def test_a_claimed_bulk_batch_holds_a_code_back_by_at_most_one_batch_of_sends(
    repository: Repository, clock: FakeClock
) -> None:
    """Every batch in flight held by Meta: a code queued now goes out once one batch is answered, before the backlog."""
    wa = [f"3162000{n:04d}" for n in range(101)]
    cids = [await customer_writes(repository, clock, w) for w in wa]
    await repository.enqueue(
        [reply(cid, w, "backlog", clock) for cid, w in zip(cids[:100], wa[:100], strict=True)], clock.now
    )
    transport = HeldTransport()
    batch = 10
    sender = make_sender(repository, transport, clock, batch=batch, idle_wait=0.01)
    task = asyncio.create_task(sender.run())
    try:
        await until(lambda: len(transport.requests) == 3 * batch)  # IN_FLIGHT batches, all waiting for Meta
        await repository.enqueue([otp_row(cids[100], wa[100], clock)], clock.now)
        sender.wake()
        for _ in range(batch):  # Meta answers the first batch claimed, and nothing else
            transport.answers.release()
        await until(lambda: any(r.json.get("type") == "template" for r in transport.requests))
        kinds = [r.json.get("type") for r in transport.requests]
        assert transport.answered == batch
        # The three batches claimed before it had all reached Meta; the code comes next, ahead of the
        # rest of its own batch and of the 60 replies still queued.
        assert kinds.index("template") == 3 * batch
    finally:
        sender.stop()
        for _ in range(200):
            transport.answers.release()
        await task


async def test_quality_yellow_halves_marketings_rate_and_not_utilitys(repository: Repository, clock: FakeClock) -> None:
    """At 4 messages/s with the number YELLOW, marketing goes at 2/s (four take over a second) and utility at 4/s."""
    number = {"display_phone_number": "15550783881", "event": "DOWNGRADE", "quality_rating": "YELLOW"}
    flag = {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "phone_number_quality_update", "value": number}]}]}  # fmt: skip
    await repository.store_deliveries([Delivery(body="{}", parsed=parse_payload(flag))])
    transport = RecordingTransport()
    client = CloudAPIClient(
        transport=transport, base_url="http://graph.test", version="v25.0", phone_number_id="1", access_token="t"
    )
    policy = SendPolicy(ZoneInfo("UTC"), phone_number_id="1")
    sender = Sender(repository, client, clock=clock, metrics=Metrics(), code_life=CODE_LIFE, throughput=4,
                    send_policy=policy, batch=8)  # fmt: skip
    took = {}
    for kind in ("marketing", "utility"):
        await asyncio.sleep(1.05 if took else 0)  # each kind starts on an empty throughput window
        messages = []
        for i in range(4):
            wa = f"3160000{kind == 'marketing':d}{i:03d}"
            cid = await customer_writes(repository, clock, wa)
            async with repository.transaction() as conn:
                await record(conn, [ConsentChange(cid, OPT_IN, "api", {"by": "test"}, clock.now)], clock.now)
            payload = template_message(wa, "promo" if kind == "marketing" else "receipt", "en")
            messages.append(reply(cid, wa, "x", clock, kind=kind, payload=payload, template_category=kind))
        await repository.enqueue(messages, clock.now)
        started = asyncio.get_running_loop().time()
        await drain(sender)
        took[kind] = asyncio.get_running_loop().time() - started
    assert len(transport.requests) == 8
    assert took["marketing"] >= 1.0  # four at 2/s: the third waits for the next window
    assert took["utility"] < took["marketing"]  # four at 4/s: all in one window


async def test_a_project_file_is_uploaded_before_its_send_and_a_missing_one_fails_the_message(
    repository: Repository, clock: FakeClock, tmp_path: Path
) -> None:
    """The sender fills in the uploaded file's id; a file gone from the flows folder fails its row, unsent."""
    cid = await customer_writes(repository, clock, "31600000077")
    (tmp_path / "terms.pdf").write_bytes(b"%PDF-1.4 terms")
    sent = project_file_message("31600000077", "document", "terms.pdf", caption="Terms", filename=None)
    gone = project_file_message("31600000077", "document", "gone.pdf", caption=None, filename=None)
    await repository.enqueue([reply(cid, "31600000077", "", clock, payload=p) for p in (sent, gone)], clock.now)
    transport = RecordingTransport()
    client = CloudAPIClient(
        transport=transport, base_url="http://graph.test", version="v25.0", phone_number_id="1", access_token="t"
    )
    sender = make_sender(
        repository,
        transport,
        clock,
        uploads=ProjectMedia(repository, client, tmp_path, phone_number_id="1", clock=clock),
    )
    await drain(sender)
    upload, send = transport.requests
    assert upload.url == "http://graph.test/v25.0/1/media"
    assert send.json["document"] == {"id": upload.json["id"], "caption": "Terms", "filename": "terms.pdf"}
    assert PROJECT_FILE not in send.json
    first, second = await outbox_rows(repository)
    assert (first.status, second.status) == ("sent", "failed")
    assert second.last_error == {"code": "media_refused", "message": "no file 'gone.pdf' in the flows folder"}


class SlowRecords(Repository):
    """The test's database, where recording a settled batch waits until the test lets it go."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records = asyncio.Semaphore(0)
        self.waiting = 0

    async def write_whole(self, work: Any) -> Any:
        if getattr(work, "__qualname__", "").startswith("Sender._settle"):
            self.waiting += 1
            await self.records.acquire()
        return await super().write_whole(work)


async def test_a_batch_being_recorded_does_not_hold_back_the_next_claim(
    repository: Repository, database_url: str, clock: FakeClock
) -> None:
    """Meta answers the first of three batches in flight while the database is slow to record it: a fourth is sent.

    Before, a batch held its lane's room until it was recorded, and nothing was claimed while three were
    being recorded: the number's limit sat idle for a fifth of a second at a time on SQLite.
    """
    wa = [f"3163000{n:04d}" for n in range(60)]
    cids = [await customer_writes(repository, clock, w) for w in wa]
    await repository.enqueue([reply(cid, w, "hi", clock) for cid, w in zip(cids, wa, strict=True)], clock.now)
    slow = SlowRecords.connect(database_url)
    transport = HeldTransport()
    sender = make_sender(slow, transport, clock, batch=10, idle_wait=0.01)
    task = asyncio.create_task(sender.run())
    try:
        await until(lambda: len(transport.requests) == 30)  # three batches in flight, all waiting for Meta
        for _ in range(10):  # Meta answers the first batch; its record waits on the database
            transport.answers.release()
        await until(lambda: slow.waiting == 1)
        await until(lambda: len(transport.requests) == 40)  # a fourth batch is claimed and sent meanwhile
    finally:
        sender.stop()
        for _ in range(60):
            transport.answers.release()
            slow.records.release()
        await task
        await slow.close()
    assert [r.status for r in await outbox_rows(repository)][:40] == ["sent"] * 40


async def test_an_idle_sender_wakes_when_a_row_queued_for_later_falls_due(
    repository: Repository, clock: FakeClock
) -> None:
    """Nothing wakes a sender when a row queued for later (a campaign's next slot) falls due: it looks then.

    Before, a sender that had caught up with a campaign's schedule slept its whole idle wait.
    """
    cid = await customer_writes(repository, clock, "31640000001")
    transport = RecordingTransport()
    sender = make_sender(repository, transport, clock, idle_wait=3600)
    task = asyncio.create_task(sender.run())
    try:
        await repository.enqueue([reply(cid, "31640000001", "now", clock)], clock.now)
        sender.wake()
        await until(lambda: len(transport.requests) == 1)
        later = reply(cid, "31640000001", "later", clock, due_at=clock.now + timedelta(seconds=0.2))
        await repository.enqueue([later], clock.now)
        sender.wake()  # it looks, finds nothing due yet, and idles until the row's due time, not an hour
        await asyncio.sleep(0.05)
        clock.advance(seconds=1)
        # At least 10 s of rounds: far from the hour. Under a loaded CI machine this ran out (with 2,000 rounds,
        # then 10,000): the clock moved on between the claim and the look for the next due row, which then
        # missed this one and slept the hour (the test below makes that happen every time).
        await until(lambda: len(transport.requests) == 2, rounds=10_000)
    finally:
        sender.stop()
        await task
    assert transport.requests[1].json["text"]["body"] == "later"
