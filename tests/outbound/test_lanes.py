"""The sender's lanes: each number held to its own limit, and one number's backlog never holding up another's."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.metrics import Metrics
from bot.numbers.number import Number, NumberBook, publish_numbers
from bot.otp.core import CODE_LIFE
from bot.outbound.lanes import IN_FLIGHT, Lanes
from bot.outbound.sender import Sender
from bot.outbound.throughput import Throttle
from bot.whatsapp.client import CloudAPIClient, RecordingTransport
from bot.whatsapp.webhook_parser import parse_payload
from storage.inbox import Delivery
from storage.repository import Repository
from tests.conftest import PHONE_NUMBER_ID, FakeClock, text_webhook
from tests.outbound.test_sender import reply, until

A, B = PHONE_NUMBER_ID, "200000000000002"


async def test_each_lane_takes_its_numbers_limit_over_the_senders_alive() -> None:
    """Two senders alive: each number's throttle runs at half that number's own limit."""
    book = NumberBook(Number(A, "+1 555 0001", throughput=80))
    book.replace([Number(A, "+1 555 0001", throughput=80), Number(B, "+1 555 0002", throughput=10)])
    lanes = Lanes(book, lambda rate: Throttle(rate, guard=None))
    lanes.update(senders=2)
    rates = {n.id: lanes.of(reply_row(n.id)).throttle.rate for n in book}
    assert rates == {A: 40, B: 5}


def reply_row(number: str) -> Any:
    from storage.models import OutboxBase

    return OutboxBase.model_construct(phone_number_id=number)


class HeldA(RecordingTransport):
    """Meta holding every send from number A until let go, and answering B's at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def post(self, url: str, *, json: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        answer = await super().post(url, json=json, headers=headers)
        if f"/{A}/" in url:
            await self.release.wait()
        return answer

    def sent_from(self, number: str) -> int:
        return sum(f"/{number}/" in r.url for r in self.requests)


async def writes_to(repository: Repository, clock: FakeClock, wa_id: str, number: str) -> int:
    """A customer writes to `number`, opening that number's window; returns the contact id."""
    payload = text_webhook(wa_id=wa_id, wamid=f"wamid.in.{wa_id}.{number}", timestamp=clock.now)
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number
    await repository.store_deliveries([Delivery(body="{}", parsed=parse_payload(payload))])
    contact = await repository.contact_by_wa_id(wa_id)
    assert contact is not None
    assert contact.id is not None
    return contact.id


async def test_a_backlog_on_a_never_holds_up_a_reply_on_b(repository: Repository, clock: FakeClock) -> None:
    """With every batch A may have in flight held by Meta, a reply on B is claimed and sent all the same."""
    numbers = [Number(A, "+1 555 0001", throughput=1000), Number(B, "+1 555 0002", token_env="TOKEN_B")]
    book = await publish_numbers(repository, numbers, "file", clock.now)
    batch = 5
    backlog = []
    for n in range(IN_FLIGHT * batch + batch):
        wa_id = f"3163000{n:04d}"
        backlog.append(reply(await writes_to(repository, clock, wa_id, A), wa_id, "backlog", clock, phone_number_id=A))
    await repository.enqueue(backlog, clock.now)
    transport = HeldA()
    client = CloudAPIClient(transport=transport, base_url="http://graph.test", version="v25.0",
                            phone_number_id=A, access_token="token-a", tokens=lambda number: "token-b")  # fmt: skip
    sender = Sender(repository, client, clock=clock, metrics=Metrics(), code_life=CODE_LIFE, batch=batch,
                    idle_wait=0.01, numbers=book)  # fmt: skip
    task = asyncio.create_task(sender.run())
    try:
        await until(lambda: transport.sent_from(A) == IN_FLIGHT * batch)  # A's lane is full, all held by Meta
        contact = await writes_to(repository, clock, "31630009999", B)
        await repository.enqueue([reply(contact, "31630009999", "from B", clock, phone_number_id=B)], clock.now)
        sender.wake()
        await until(lambda: transport.sent_from(B) == 1)
        assert transport.sent_from(A) == IN_FLIGHT * batch  # nothing of A's was answered or sent meanwhile
        sent_b = next(r for r in transport.requests if f"/{B}/" in r.url)
        assert sent_b.headers["Authorization"] == "Bearer token-b"
        assert sent_b.json["text"]["body"] == "from B"
    finally:
        sender.stop()
        transport.release.set()
        await task
