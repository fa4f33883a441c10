"""The SQLite write gate: one writer at a time in the process, webhook batches first."""

from __future__ import annotations

import asyncio

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
