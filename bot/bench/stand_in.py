"""The Graph API stand-in: a process of its own that plays Meta for the benchmarks and the fault tests.

It runs as ``python -m bot.bench.stand_in --port 0 --rate R`` so that the process being measured does
none of Meta's work. It answers as Meta does, refuses a send beyond `rate` in any one-second window with
130429 (the sandbox's own rule), and records when each request arrived; a benchmark reads those times
back (`stand_in_record`) and reports the busiest one-second window it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.bench.faults import Fault, FaultPlan
from bot.edge.intake import BACKLOG
from bot.sandbox.rules import ThroughputWindow
from bot.sandbox.wire import PAIR_RATE, THROUGHPUT, encode, graph_error, status_webhook
from bot.settings import SANDBOX_PHONE_NUMBER_ID
from bot.whatsapp.client import AiohttpTransport, CloudAPIClient
from bot.whatsapp.signature import HEADER, sign

# The number the benchmarks' services serve: the one their webhooks name, so every message is answered.
PHONE_NUMBER_ID = SANDBOX_PHONE_NUMBER_ID


class StandIn:
    """The Graph API's send endpoint, reduced to what the tests and benchmarks need.

    It records when each request arrived and from which business number, refuses a send beyond its
    number's rate (`number_rates`, else `rate`) in any one-second window with 130429, as Meta counts
    each number's throughput on its own, injects the failures of a `FaultPlan`, and, given a webhook URL,
    reports each accepted send back as a signed ``sent`` status carrying its callback data, retrying until
    the webhook answers 200 (as Meta does).
    """

    def __init__(
        self,
        rate: int,
        plan: FaultPlan | None = None,
        webhook: tuple[str, str] | None = None,
        number_rates: dict[str, int] | None = None,
    ) -> None:
        self.rate = rate
        self.number_rates = number_rates or {}
        self.windows: dict[str, ThroughputWindow] = {}
        self.numbers: list[str] = []  # the business number of each accepted send, in the same order
        self.refused_numbers: list[str] = []
        self.plan = plan or FaultPlan()
        self.webhook = webhook  # (URL, app secret)
        self.accepted: list[float] = []
        self.recipients: list[str] = []  # `to` of each accepted send, in the same order
        self.callbacks: list[str | None] = []  # `biz_opaque_callback_data` of each accepted send, likewise
        self.refused: list[float] = []
        self.codes: Counter[str] = Counter()
        self.arrivals: Counter[str] = Counter()  # requests per recipient, accepted or not
        self.attempts: Counter[str] = Counter()  # requests per callback data, accepted or not
        self._reports: set[asyncio.Task[None]] = set()
        self.run = uuid.uuid4().hex[:8]  # wamids unique across stand-ins, as Meta's are

    async def send(self, request: web.Request) -> web.Response:
        received = time.monotonic()
        body = await request.json()
        to, callback = body["to"], body.get("biz_opaque_callback_data")
        fault = self.plan.fault(sum(self.arrivals.values()) + 1, to, self.arrivals[to])
        self.arrivals[to] += 1
        self.attempts[str(callback)] += 1
        if fault in ("server_error", "hang", "throughput", "pair_rate"):
            return await self._fail(fault, received)
        number = request.match_info["phone_number_id"]
        window = self.windows.get(number)
        if window is None:
            window = self.windows[number] = ThroughputWindow(self.number_rates.get(number, self.rate))
        now = datetime.now(UTC)
        if not window.allows(now):
            self.refused_numbers.append(number)
            return await self._fail("throughput", received)
        window.record(now)
        self.numbers.append(number)
        self.accepted.append(received)
        self.recipients.append(to)
        self.callbacks.append(callback)
        wamid = f"wamid.bench.{self.run}.{len(self.accepted)}"
        if self.webhook is not None:
            task = asyncio.create_task(self._report(wamid, to, callback))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)
        if fault == "lost_answer":  # Meta took it; the answer is lost on the way back
            await asyncio.sleep(self.plan.hang_seconds)
        return web.json_response(
            {"messaging_product": "whatsapp", "contacts": [{"input": to}], "messages": [{"id": wamid}]}
        )

    async def _fail(self, fault: Fault, received: float) -> web.Response:
        self.refused.append(received)
        if fault == "hang":
            await asyncio.sleep(self.plan.hang_seconds)
        if fault == "throughput":
            exc = graph_error(*THROUGHPUT)
        elif fault == "pair_rate":
            exc = graph_error(*PAIR_RATE)
        else:
            exc = graph_error(131000, "Something went wrong", http_status=503 if len(self.refused) % 2 else 500)
        self.codes[str(exc.error_code)] += 1
        return web.json_response(exc.raw, status=exc.http_status or 400)

    async def _report(self, wamid: str, to: str, callback: str | None) -> None:
        assert self.webhook is not None
        url, secret = self.webhook
        status = status_webhook(
            PHONE_NUMBER_ID,
            wamid=wamid,
            status="sent",
            timestamp=int(time.time()),
            recipient_id=to,
            pricing=None,
            callback_data=callback,
        )
        body = encode(status)
        headers = {"Content-Type": "application/json", HEADER: sign(secret, body)}
        async with aiohttp.ClientSession() as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.post(url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(2)) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.2)

    async def received(self, request: web.Request) -> web.Response:
        per_recipient = Counter(self.recipients)
        return web.json_response(
            {"accepted": self.accepted, "to": self.recipients, "callbacks": self.callbacks, "refused": self.refused,
             "numbers": self.numbers, "refused_numbers": self.refused_numbers,
             "codes": self.codes, "attempts": self.attempts, "recipients": len(per_recipient),
             "most_to_one_recipient": max(per_recipient.values(), default=0)}
        )  # fmt: skip

    async def count(self, request: web.Request) -> web.Response:
        """How many sends were accepted so far (a refused one comes again): cheap to poll while a run goes on."""
        return web.json_response(len(self.accepted))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{version}/{phone_number_id}/messages", self.send)
        app.router.add_get("/received", self.received)
        app.router.add_get("/count", self.count)
        return app


async def serve_stand_in(port: int, stand_in: StandIn) -> None:
    """Serve until killed; print the bound port on the first line of standard output."""
    await serve_until_killed(stand_in.app(), port)


async def serve_until_killed(app: web.Application, port: int) -> None:
    """Serve `app` on 127.0.0.1:`port` (0: any) until killed; print the bound port on the first line of output."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    await web.SockSite(runner, sock, backlog=BACKLOG).start()
    print(sock.getsockname()[1], flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def stand_in_process(rate: int, *options: str) -> AsyncIterator[str]:
    """Start the stand-in as a child process and yield its base URL; terminate and reap it afterwards.

    `options` are more command-line options: ``--faults PLAN_JSON``, ``--webhook URL --app-secret S``.
    """
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.bench.stand_in",
        "--port",
        "0",
        "--rate",
        str(rate),
        *options,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        if not line.strip():
            raise RuntimeError("the Graph API stand-in did not start")
        yield f"http://127.0.0.1:{int(line)}"
    finally:
        if child.returncode is None:
            child.terminate()
        await child.wait()


async def stand_in_record(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    """What the stand-in at `base` has seen so far (`GET /received`)."""
    async with session.get(f"{base}/received") as response:
        record: dict[str, Any] = await response.json()
        return record


@dataclass(frozen=True)
class Link:
    """The real Cloud API client pointed at a stand-in process, and a way to read what the stand-in received."""

    client: CloudAPIClient
    session: aiohttp.ClientSession
    base: str

    async def received(self) -> dict[str, Any]:
        return await stand_in_record(self.session, self.base)


@contextlib.asynccontextmanager
async def linked_stand_in(rate: int) -> AsyncIterator[Link]:
    """A stand-in process at `rate` and a Cloud API client for it, both closed afterwards."""
    async with stand_in_process(rate) as base, aiohttp.ClientSession() as session:
        client = CloudAPIClient(
            transport=AiohttpTransport(session),
            base_url=base,
            version="v25.0",
            phone_number_id=PHONE_NUMBER_ID,
            access_token="bench",
        )
        yield Link(client, session, base)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.stand_in", description="the Graph API stand-in")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--faults", default="", help="a fault plan as JSON (bot.bench.faults.FaultPlan's fields)")
    parser.add_argument("--webhook", default=None, help="post a signed `sent` status here for each accepted send")
    parser.add_argument("--app-secret", default="", help="the app secret the status webhooks are signed with")
    parser.add_argument(
        "--number-rate", action="append", default=[], metavar="ID=RATE", help="one business number's own limit"
    )
    args = parser.parse_args(argv)
    webhook = (args.webhook, args.app_secret) if args.webhook else None
    rates = {number: int(rate) for number, _, rate in (item.partition("=") for item in args.number_rate)}
    stand_in = StandIn(args.rate, FaultPlan.from_json(args.faults), webhook, rates)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_stand_in(args.port, stand_in))


if __name__ == "__main__":
    main()
