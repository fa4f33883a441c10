"""The throughput limit: at most `rate` sends in any one-second window, evenly spaced, held by pauses."""

from __future__ import annotations

import asyncio

import pytest

from bot.bench_send import max_in_window
from bot.ratelimit import CATCH_UP, SlidingWindow, Throttle


def test_a_burst_never_puts_more_than_rate_in_any_window() -> None:
    """A thousand sends asked for at one instant are spread so that no one-second window holds more than `rate`."""
    limit = SlidingWindow(50)
    times = [limit.reserve(0.0) for _ in range(1000)]
    assert max_in_window(times) == 50
    assert times == sorted(times)


def test_repeated_bursts_at_window_edges_do_not_double_the_rate() -> None:
    """Bursts asked for just before and just after each second's edge still leave every window at `rate` or fewer."""
    limit = SlidingWindow(20)
    times: list[float] = []
    for second in range(10):
        times += [limit.reserve(second + 0.999) for _ in range(30)]
        times += [limit.reserve(second + 1.001) for _ in range(30)]
    assert max_in_window(times) <= 20


def test_sends_are_evenly_spaced_at_the_rate() -> None:
    """In steady state sends are `window / rate` apart; a guard stretches the spacing by its share of the window."""
    for guard, spacing in ((0.0, 0.01), (0.02, 0.0102)):
        limit = SlidingWindow(100, guard=guard)
        times = [limit.reserve(0.0) for _ in range(20)]
        assert [b - a for a, b in zip(times[-6:-1], times[-5:], strict=True)] == pytest.approx([spacing] * 5)


def test_an_idle_spell_ends_in_at_most_a_small_burst() -> None:
    """After an idle spell no more than `CATCH_UP` seconds' worth of sends leave at once."""
    limit = SlidingWindow(1000)
    times = [limit.reserve(0.0) for _ in range(50)]
    assert times.count(0.0) <= round(CATCH_UP * 1000) + 1
    assert times[-1] > 0.0


def test_the_guard_keeps_rate_sends_within_any_window_of_one_second_plus_the_guard() -> None:
    """With a guard, even `rate + 1` sends need more than the window and its guard."""
    limit = SlidingWindow(10, guard=0.05)
    times = [limit.reserve(0.0) for _ in range(11)]
    assert times[10] - times[0] >= 1.05


def test_late_events_are_counted_when_they_happened() -> None:
    """A send that went out late is counted at its real moment, so the one a window later waits for it."""
    limit = SlidingWindow(10)
    for slot in range(10):
        limit.record(slot / 10 + 0.005)  # each booked on its slot, each sent 5 ms late
    assert limit.earliest(1.0) == pytest.approx(1.005)


def test_slots_lost_to_a_short_delay_are_caught_up() -> None:
    """A few milliseconds behind schedule are made up at once rather than lost for good."""
    limit = SlidingWindow(1000)
    limit.record(0.0)
    assert limit.earliest(0.005) == 0.005  # behind schedule: no wait
    limit.record(0.005)
    assert limit.earliest(0.005) == 0.005  # still catching up: no wait


def test_pause_holds_every_send_until_it_ends() -> None:
    """After Meta's 130429 nothing goes out before the pause ends, and a shorter pause never shortens it."""
    limit = SlidingWindow(100)
    limit.pause(2.0)
    limit.pause(1.0)
    times = [limit.reserve(0.5) for _ in range(300)]
    assert min(times) == 2.0
    assert max_in_window(times) <= 100


def test_rate_must_be_positive() -> None:
    """A rate of zero is a configuration mistake, refused at once."""
    with pytest.raises(ValueError, match="rate"):
        SlidingWindow(0)


async def test_throttle_lets_concurrent_senders_through_within_the_rate() -> None:
    """Many tasks racing for the gate pass it at no more than `rate` in any one-second window of real time."""
    loop = asyncio.get_running_loop()
    throttle = Throttle(200, guard=0.0)
    passed: list[float] = []

    async def send() -> None:
        await throttle.acquire()
        passed.append(loop.time())

    async with asyncio.TaskGroup() as group:
        for _ in range(260):
            group.create_task(send())
    assert len(passed) == 260
    assert max_in_window(passed) <= 200
    assert passed[-1] - passed[0] >= 1.0
