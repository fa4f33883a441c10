"""The SQLite write gate: one writer at a time in the process, webhook batches first, but turn about."""

from __future__ import annotations

import asyncio
import contextlib

from storage.gate import WriteGate


async def test_one_writer_at_a_time() -> None:
    """Two holders never overlap."""
    gate, inside, overlaps = WriteGate(), 0, 0

    async def write() -> None:
        nonlocal inside, overlaps
        async with gate.hold():
            inside += 1
            overlaps += inside > 1
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(write() for _ in range(20)))
    assert overlaps == 0


async def test_urgent_writers_overtake_waiting_ordinary_ones() -> None:
    """While the gate is held, an urgent writer that arrives after ordinary ones still goes first."""
    gate, order = WriteGate(), []
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.hold():
            await release.wait()

    async def write(name: str, urgent: bool) -> None:
        async with gate.hold(urgent=urgent):
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(write("turn", False)), asyncio.create_task(write("send", False))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(write("webhook", True)))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *tasks)
    assert order[0] == "webhook"
    assert sorted(order[1:]) == ["send", "turn"]


async def test_under_a_stream_of_urgent_writers_ordinary_ones_get_every_other_turn() -> None:
    """Webhook batches back to back do not keep turns and sends out until the stream ends."""
    gate, order = WriteGate(), []

    async def webhook_batches(count: int) -> None:
        for n in range(count):  # as the ingestor does: the next batch asks as soon as the last is stored
            async with gate.hold(urgent=True):
                order.append(f"webhook{n}")
                await asyncio.sleep(0.001)

    async def write(name: str) -> None:
        async with gate.hold():
            order.append(name)
            await asyncio.sleep(0)

    stream = asyncio.create_task(webhook_batches(6))
    await asyncio.sleep(0)  # the first batch holds the gate
    await asyncio.gather(stream, write("turn"), write("send"), write("claim"))
    assert order == ["webhook0", "turn", "webhook1", "send", "webhook2", "claim", "webhook3", "webhook4", "webhook5"]


async def test_a_waiter_cancelled_while_queued_or_just_handed_the_gate_does_not_wedge_it() -> None:
    gate = WriteGate()
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.hold():
            await release.wait()

    async def write() -> None:
        async with gate.hold(urgent=True):
            pass

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    queued, handed = asyncio.create_task(write()), asyncio.create_task(write())
    await asyncio.sleep(0)
    queued.cancel()
    release.set()
    await asyncio.sleep(0)  # the holder leaves and hands the gate to `handed`, which is cancelled before it runs
    handed.cancel()
    await asyncio.gather(first, queued, handed, return_exceptions=True)
    await asyncio.wait_for(write(), timeout=1)  # the gate is free again


async def test_after_a_failed_transaction_urgent_writers_keep_the_priority() -> None:
    """The database locked past the busy timeout: webhooks (answered 503 at once) do not wait behind turns."""
    gate, order = WriteGate(), []

    async def webhook_batches(count: int) -> None:
        for n in range(count):
            with contextlib.suppress(TimeoutError):
                async with gate.hold(urgent=True):
                    order.append(f"webhook{n}")
                    await asyncio.sleep(0.001)
                    if n < 2:
                        raise TimeoutError("database is locked")  # the first two batches fail

    async def write(name: str) -> None:
        async with gate.hold():
            order.append(name)

    stream = asyncio.create_task(webhook_batches(4))
    await asyncio.sleep(0)
    await asyncio.gather(stream, write("turn"), write("send"))
    assert order == ["webhook0", "webhook1", "webhook2", "turn", "webhook3", "send"]
