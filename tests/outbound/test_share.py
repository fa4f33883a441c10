"""A sender's share: the limit over the senders it counted, smaller at once, larger a window late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.outbound.share import JOIN_MARGIN, WINDOW, Share

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def share() -> Share:
    return Share("me", 120, alive_for=10.0)


def test_a_sender_alone_at_its_first_beat_may_send_at_once_at_the_whole_limit() -> None:
    """Alone at the first committed beat: whoever beats later counts it, so it waits for no one."""
    s = share()
    assert s.rate({"me": T0}, 0.0) == 120
    s.committed({"me": T0}, 0.0)
    assert s.seen_by_all
    assert s.until_ready(0.0) == 0.0


def test_a_joiner_waits_until_every_other_sender_has_beaten_since_and_a_window_more() -> None:
    """Others seen at the first beat must each beat again (or go); then the joiner waits out a window."""
    s = share()
    seen = {"me": T0, "a": T0 - timedelta(seconds=1), "b": T0 - timedelta(seconds=1)}
    assert s.rate(seen, 0.0) == 40
    s.committed(seen, 0.0)
    assert not s.seen_by_all
    assert s.until_ready(0.0) == float("inf")
    s.committed({**seen, "a": T0 + timedelta(seconds=1)}, 1.0)  # a beat again, b has not
    assert not s.seen_by_all
    s.committed({"me": T0, "a": T0 + timedelta(seconds=1)}, 2.0)  # b is gone
    assert s.seen_by_all
    assert s.until_ready(2.0) == WINDOW + JOIN_MARGIN


def test_a_joiner_stops_waiting_for_a_sender_that_has_not_beaten_for_its_alive_time() -> None:
    """A sender silent for `alive_for` is counted out by everyone by now, so the joiner waits no longer."""
    s = share()
    seen = {"me": T0, "a": T0}
    s.committed(seen, 0.0)
    s.committed(seen, 9.9)
    assert not s.seen_by_all
    s.committed(seen, 10.0)
    assert s.seen_by_all


def test_a_share_shrinks_at_the_beat_that_counts_more_senders() -> None:
    """A sender that counts more senders takes the smaller share at that very beat."""
    s = share()
    assert s.rate({"me": T0}, 0.0) == 120
    assert s.rate({"me": T0, "a": T0}, 0.1) == 60
    assert s.rate({"me": T0, "a": T0, "b": T0}, 0.2) == 40


def test_a_share_grows_only_a_window_after_the_sender_first_saw_fewer() -> None:
    """The one that left may have sends in the window still: the survivor keeps its share a window longer."""
    s = share()
    two = {"me": T0, "a": T0}
    assert s.rate(two, 0.0) == 60
    assert s.rate({"me": T0}, 0.5) == 60  # first seen alone at 0.5
    assert s.rate({"me": T0}, 1.4) == 60
    assert s.rate({"me": T0}, 1.5) == 120  # a window after


def test_a_share_never_falls_below_one() -> None:
    """More senders than the limit: each still sends one a second."""
    s = Share("me", 2, alive_for=10.0)
    assert s.rate({f"s{i}": T0 for i in range(5)}, 0.0) == 1
