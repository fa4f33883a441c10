"""The throughput limit: at most `rate` sends in any one-second window as Meta counts them, spread out and paused."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.bench.figures import max_in_window
from bot.outbound.throughput import (
    ARRIVAL_GUARD,
    CATCH_UP,
    EXACT_CATCH_UP,
    EXACT_SPACING,
    SlidingWindow,
    Slot,
    Throttle,
    Turns,
    WindowCount,
)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_a_burst_never_puts_more_than_rate_in_any_window() -> None:
    """A thousand sends asked for at one instant are spread so that no one-second window holds more than `rate`."""
    for guard in (None, 0.0):
        limit = SlidingWindow(50, guard=guard)
        times = [limit.reserve(0.0, lasting=0.0) for _ in range(1000)]
        assert max_in_window(times) == 50
        assert times == sorted(times)


def test_repeated_bursts_at_window_edges_do_not_double_the_rate() -> None:
    """Bursts asked for just before and just after each second's edge still leave every window at `rate` or fewer."""
    for guard in (None, 0.0):
        limit = SlidingWindow(20, guard=guard)
        times: list[float] = []
        for second in range(10):
            times += [limit.reserve(second + 0.999, lasting=0.0) for _ in range(30)]
            times += [limit.reserve(second + 1.001, lasting=0.0) for _ in range(30)]
        assert max_in_window(times) <= 20


def test_exact_counting_holds_the_limit_however_late_each_send_lands() -> None:
    """Exact: however long answers take, and wherever between leaving and answer sends land, no window holds more."""
    rng = random.Random(20261126)
    rate = 50
    limit = SlidingWindow(rate)
    now = 0.0
    out: list[tuple[float, int, Slot]] = []  # sends not yet answered, by when their answer comes
    landed: list[float] = []
    for n in range(3000):
        while (at := limit.earliest(now)) > now and out and out[0][0] <= at:
            now, _, slot = heapq.heappop(out)  # an answer comes first, and may let the next send go sooner
            limit.end(slot, now)
        now = at
        slot = limit.record(now)
        delay = rng.choice([0.0005, 0.002, 0.03, 0.12, 1.5]) * rng.random()
        heapq.heappush(out, (now + delay, n, slot))
        landed.append(now + rng.choice([0.0, delay, delay * rng.random()]))
    assert max_in_window(landed) <= rate


def test_a_guard_is_an_assumption_that_a_late_landing_breaks() -> None:
    """Guarded: one send landing later than its guard (a stall before the socket) puts `rate + 1` in a window."""
    limit = SlidingWindow(10, guard=0.02)
    times = [limit.reserve(0.0) for _ in range(11)]
    assert max_in_window(times) == 10
    assert max_in_window([times[0] + 0.08, *times[1:]]) == 11


def test_exact_sends_leave_one_window_after_the_send_rate_places_back_was_answered() -> None:
    """Exact: the window rule sets the pace; a send leaves one window after the answer to the one `rate` back."""
    limit = SlidingWindow(100)
    times = [limit.reserve(0.0, lasting=0.003) for _ in range(500)]
    assert [times[k + 100] for k in range(400)] == pytest.approx([times[k] + 0.003 + 1.0 for k in range(400)])
    assert gaps(times[90:100]) == pytest.approx([EXACT_SPACING / 100] * 9)  # the first window's worth, spaced
    assert times[99] < 1.0  # … fits in less than a window


def test_exact_a_send_still_out_holds_its_place() -> None:
    """Exact: until the send `rate` places back has ended the next cannot leave at all, then it may one window after."""
    limit = SlidingWindow(10)
    first = limit.record(0.0)
    for _ in range(9):
        limit.reserve(0.0, lasting=0.0)
    assert limit.earliest(5.0) == math.inf
    limit.end(first, 0.25)
    assert limit.earliest(0.0) == 1.25


def test_guarded_sends_are_evenly_spaced_with_room_for_the_guard() -> None:
    """Guarded: in steady state sends are `window / rate` apart, stretched by the guard's share of the window."""
    for guard, spacing in ((0.0, 0.01), (0.02, 0.0102)):
        limit = SlidingWindow(100, guard=guard)
        times = [limit.reserve(0.0) for _ in range(20)]
        assert gaps(times[-6:]) == pytest.approx([spacing] * 5)


def test_guarded_a_send_is_counted_until_its_answer_or_its_guard_whichever_is_first() -> None:
    """Guarded: an answer sooner than the guard is certain and frees the place then; a later answer changes nothing."""
    limit = SlidingWindow(10, guard=0.05)
    early, late = limit.record(0.0), limit.record(0.105)
    limit.end(early, 0.01)
    limit.end(late, 0.3)
    assert (early.counted_by, late.counted_by) == (0.01, 0.105 + 0.05)


def test_an_idle_spell_ends_in_at_most_a_small_burst() -> None:
    """After an idle spell no more than the catch-up's worth of sends leave at once."""
    for guard, catch_up in ((ARRIVAL_GUARD, CATCH_UP), (None, EXACT_CATCH_UP)):
        limit = SlidingWindow(1000, guard=guard)
        times = [limit.reserve(0.0, lasting=0.0) for _ in range(500)]
        assert times.count(0.0) <= catch_up / limit.spacing + 1
        assert times[-1] > 0.0


def test_the_guard_keeps_rate_sends_within_any_window_of_one_second_plus_the_guard() -> None:
    """Guarded, and never answered sooner, even `rate + 1` sends need more than the window and its guard."""
    limit = SlidingWindow(10, guard=0.05)
    times = [limit.reserve(0.0) for _ in range(11)]
    assert times[10] - times[0] >= 1.05


def test_late_events_are_counted_when_they_happened() -> None:
    """A send that went out late is counted at its real moment, so the one a window later waits for it."""
    limit = SlidingWindow(10, guard=0.0)
    for slot in range(10):
        limit.record(slot / 10 + 0.005)  # each booked on its slot, each sent 5 ms late
    assert limit.earliest(1.0) == pytest.approx(1.005)


def test_slots_lost_to_a_short_delay_are_caught_up() -> None:
    """A few milliseconds behind schedule are made up at once rather than lost for good."""
    limit = SlidingWindow(1000, guard=0.0)
    limit.record(0.0)
    assert limit.earliest(0.005) == 0.005  # behind schedule: no wait
    limit.record(0.005)
    assert limit.earliest(0.005) == 0.005  # still catching up: no wait


def test_pause_holds_every_send_until_it_ends() -> None:
    """After Meta's 130429 nothing goes out before the pause ends, and a shorter pause never shortens it."""
    for guard in (None, 0.0):
        limit = SlidingWindow(100, guard=guard)
        limit.pause(2.0)
        limit.pause(1.0)
        times = [limit.reserve(0.5, lasting=0.0) for _ in range(300)]
        assert min(times) == 2.0
        assert max_in_window(times) <= 100


T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)


def test_a_window_count_lets_the_next_event_come_one_window_after_the_one_limit_back() -> None:
    """Fewer than `limit` in the last window may go on; the next fits exactly one window after the one `limit` back."""
    counted = WindowCount[datetime, timedelta](3, timedelta(minutes=1))
    for second in (0, 10, 20):
        assert counted.allows(T0 + timedelta(seconds=second))
        counted.record(T0 + timedelta(seconds=second))
    assert counted.free_at() == T0 + timedelta(seconds=60)
    assert counted.count(T0 + timedelta(seconds=59)) == 3
    assert not counted.allows(T0 + timedelta(seconds=59, microseconds=999_999))
    assert counted.allows(T0 + timedelta(seconds=60))
    assert counted.count(T0 + timedelta(seconds=60)) == 2
    assert counted.count(T0 + timedelta(seconds=80)) == 0
    assert counted.free_at() is None  # the events out of the window are forgotten


def test_a_window_count_is_free_while_fewer_than_limit_were_recorded() -> None:
    """Until `limit` events have been recorded there is no moment to wait for."""
    counted = WindowCount[float, float](2, 1.0)
    assert counted.free_at() is None
    counted.record(0.5)
    assert counted.free_at() is None
    assert counted.count(0.5) == 1


def test_events_recorded_past_the_limit_are_counted_from_the_latest() -> None:
    """Events recorded beyond the limit (never refused) push the next free moment on: the one `limit` back decides."""
    counted = WindowCount[float, float](2, 1.0)
    for at in (0.0, 0.1, 0.2, 0.3):
        counted.record(at)
    assert counted.free_at() == 1.2
    assert counted.count(0.3) == 2  # only the last `limit` are remembered


def test_a_window_count_frees_a_place_when_its_slot_is_counted_sooner() -> None:
    """An event counted at infinity holds its place for ever, until its slot is moved to a real moment."""
    counted = WindowCount[float, float](1, 1.0)
    slot = counted.record(math.inf)
    assert counted.free_at() == math.inf
    slot.counted_by = 0.25
    assert counted.free_at() == 1.25


def test_a_resized_window_count_keeps_the_latest_events() -> None:
    """Shrinking the limit keeps the latest events, so no window after it holds more than the new limit."""
    counted = WindowCount[float, float](3, 1.0)
    for at in (0.0, 0.1, 0.2):
        counted.record(at)
    counted.resize(2)
    assert (counted.limit, counted.free_at()) == (2, 1.1)
    counted.resize(4)
    assert counted.free_at() is None


def test_a_window_count_limit_must_be_positive() -> None:
    """A limit of zero is a mistake, refused when the count is made and when it is resized."""
    with pytest.raises(ValueError, match="limit"):
        WindowCount[float, float](0, 1.0)
    with pytest.raises(ValueError, match="limit"):
        WindowCount[float, float](1, 1.0).resize(0)


def test_rate_must_be_positive() -> None:
    """A rate of zero is a configuration mistake, refused at once."""
    with pytest.raises(ValueError, match="rate"):
        SlidingWindow(0)


async def test_throttle_lets_concurrent_senders_through_within_the_rate() -> None:
    """Many tasks racing for the gate pass it at no more than `rate` in any one-second window of real time.

    Each pass is taken at the moment the gate counted it (the clock read inside `acquire`; with a guard of
    zero that is the slot's `counted_by`), not a second clock read afterwards: on a loaded machine a pause
    between the gate and that second read shifted one pass by more than the wake-up slack and showed 201.
    """
    throttle = Throttle(200, guard=0.0)
    passed: list[float] = []

    async def send() -> None:
        slot = await throttle.acquire()
        passed.append(slot.counted_by)

    async with asyncio.TaskGroup() as group:
        for _ in range(260):
            group.create_task(send())
    assert len(passed) == 260
    assert max_in_window(passed) <= 200
    assert passed[-1] - passed[0] >= 1.0


async def test_exact_throttle_lets_each_send_go_a_window_after_the_one_rate_places_back_ended() -> None:
    """Exact: concurrent sends through `sending()`, answered after uneven delays, never outrun answers a window back."""
    loop = asyncio.get_running_loop()
    throttle = Throttle(5, guard=None, window=0.05)
    spans: list[tuple[float, float]] = []

    async def send(delay: float) -> None:
        async with throttle.sending():
            left = loop.time()
            await asyncio.sleep(delay)
            spans.append((left, loop.time()))

    async with asyncio.TaskGroup() as group:
        for n in range(40):
            group.create_task(send((0.0, 0.001, 0.03, 0.004)[n % 4]))
    spans.sort()
    assert all(spans[k + 5][0] >= spans[k][1] + 0.05 for k in range(len(spans) - 5))


async def test_exact_throttle_waits_for_a_send_still_out() -> None:
    """Exact: while the send a window's worth back is unanswered the next waits, and goes one window after it ends."""
    loop = asyncio.get_running_loop()
    throttle = Throttle(2, guard=None, window=0.05)
    first, second = await throttle.acquire(), await throttle.acquire()
    third = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0.2)
    assert not third.done()
    throttle.done(first)
    ended = loop.time()
    throttle.done(await third)
    assert loop.time() >= ended + 0.05
    throttle.done(second)


def test_a_rate_of_one_is_allowed_and_zero_is_refused_with_the_reason() -> None:
    """One send a window is the smallest rate; zero is refused by the window and by a resize alike."""
    limit = SlidingWindow(1)
    assert limit.rate == 1
    with pytest.raises(ValueError, match=r"^rate must be at least 1$"):
        SlidingWindow(0)
    limit.resize(1)
    with pytest.raises(ValueError, match=r"^rate must be at least 1$"):
        limit.resize(0)
    assert limit.rate == 1


def test_the_window_length_only_stretches_time() -> None:
    """Exact: a two-second window sends the same pattern as a one-second one, at half the pace."""
    short, long = SlidingWindow(100), SlidingWindow(100, window=2.0)
    one = [short.reserve(0.0, lasting=0.004) for _ in range(300)]
    two = [long.reserve(0.0, lasting=0.008) for _ in range(300)]
    assert two == pytest.approx([2 * t for t in one])


def test_shrinking_keeps_the_latest_sends_counted() -> None:
    """After a smaller rate, the next send waits one window after the send that many places back."""
    limit = SlidingWindow(4, guard=0.0)
    times = [limit.reserve(0.0) for _ in range(4)]
    assert times == pytest.approx([0.0, 0.24, 0.49, 0.74])
    limit.resize(2)
    assert limit.rate == 2
    assert limit.earliest(times[-1]) == pytest.approx(times[2] + 1.0)


def test_growing_keeps_the_earlier_sends_counted() -> None:
    """Exact: after a larger rate the sends already out still hold their places, so no window outgrows the new rate."""
    limit = SlidingWindow(2)
    before = [limit.reserve(0.0, lasting=0.5) for _ in range(2)]
    limit.resize(4)
    after = [limit.reserve(before[-1], lasting=0.5) for _ in range(4)]
    assert after == pytest.approx([0.5, 0.7, 1.5, 1.8])  # the third waits for the first's answer, one window on


def test_a_resize_respaces_the_sends() -> None:
    """After a resize sends are spaced for the new rate: 0.8 of its share of a window exact, window + guard guarded."""
    for guard, spacing in ((None, EXACT_SPACING / 20), (0.02, 1.02 / 20)):
        limit = SlidingWindow(10, guard=guard)
        for _ in range(30):
            limit.reserve(0.0, lasting=0.0)
        limit.resize(20)
        times = [limit.reserve(0.0, lasting=0.0) for _ in range(10)]
        assert gaps(times) == pytest.approx([spacing] * 9)


async def test_a_throttle_counts_one_second_windows_by_default() -> None:
    """Without a window given, eleven sends at ten a second span one second, not two."""
    loop = asyncio.get_running_loop()
    throttle = Throttle(10, guard=0.0)
    passed = []
    for _ in range(11):
        await throttle.acquire()
        passed.append(loop.time())
    assert 1.0 <= passed[-1] - passed[0] < 1.8


async def test_a_throttle_pause_holds_the_next_send() -> None:
    """After `pause(s)` (Meta's 130429) the next send waits those seconds from now."""
    loop = asyncio.get_running_loop()
    throttle = Throttle(1000, guard=0.0)
    throttle.pause(0.05)
    paused_at = loop.time()
    await throttle.acquire()
    assert loop.time() - paused_at >= 0.05


async def test_a_throttle_resize_lets_a_waiting_send_go() -> None:
    """Exact: a send waiting for the one a window back may go at once when the rate grows to make room."""
    throttle = Throttle(1, guard=None, window=0.05)
    first = await throttle.acquire()
    waiting = asyncio.create_task(throttle.acquire())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    throttle.resize(2)
    assert throttle.rate == 2
    throttle.done(await asyncio.wait_for(waiting, 1.0))
    throttle.done(first)


async def test_a_more_urgent_send_passes_those_already_waiting_at_the_gate() -> None:
    """While the window is full, waiting sends go by priority: a code (0) queued last passes marketing (3)."""
    throttle = Throttle(2, guard=None, window=0.01)
    held = [await throttle.acquire(3), await throttle.acquire(3)]
    order: list[str] = []

    async def send(name: str, priority: int) -> None:
        async with throttle.sending(priority):
            order.append(name)

    waiting = [asyncio.create_task(send(name, priority)) for name, priority in (("bulk-1", 3), ("bulk-2", 3))]
    await asyncio.sleep(0)  # both queued before the code
    waiting.append(asyncio.create_task(send("code", 0)))
    await asyncio.sleep(0)
    for slot in held:
        throttle.done(slot)
    await asyncio.gather(*waiting)
    # bulk-1 held the turn, waiting for a place, when the code came; the code goes next, before bulk-2.
    assert order == ["bulk-1", "code", "bulk-2"]


async def test_a_send_cancelled_while_waiting_for_its_turn_hands_it_on() -> None:
    """A waiter cancelled in the queue is skipped: the turn goes on to the next one, and nobody is left waiting."""
    turns = Turns()
    order: list[str] = []

    async def take(name: str, priority: int, gate: asyncio.Event | None = None) -> None:
        async with turns.hold(priority):
            order.append(name)
            if gate is not None:
                await gate.wait()

    gate = asyncio.Event()
    first = asyncio.create_task(take("first", 1, gate))
    await asyncio.sleep(0)
    skipped = asyncio.create_task(take("skipped", 0))
    last = asyncio.create_task(take("last", 2))
    await asyncio.sleep(0)
    skipped.cancel()
    gate.set()
    await asyncio.gather(first, last)
    assert skipped.cancelled()
    assert order == ["first", "last"]
