"""The dispatcher's timeout sweep (`storage.session.due_sessions`): which sessions it hands to `time_out`."""

from __future__ import annotations

from datetime import timedelta

from storage import session
from storage.contacts import ContactValues, upsert_contacts
from storage.repository import Repository
from tests.conftest import FakeClock


async def test_the_sweep_finds_timed_out_steps_and_idle_flows_only(repository: Repository, clock: FakeClock) -> None:
    """A step past its deadline and a flow idle past its expiry are due, each contact once; nothing else is."""
    now, past, future = clock.now, clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=10)
    shapes = {
        "waiting": {"flow": "orders", "step": "ask", "deadline_at": past, "expires_at": future},
        "idle": {"flow": "orders", "step": "ask", "expires_at": past},
        "both": {"flow": "orders", "step": "ask", "deadline_at": past, "expires_at": past},
        "finished": {"flow": None, "step": None, "expires_at": past},  # a finished flow keeps its old expiry
        "running": {"flow": "orders", "step": "ask", "deadline_at": future, "expires_at": future},
        "handed_off": {"flow": "orders", "step": "ask", "deadline_at": past, "expires_at": past, "handed_off": True},
    }
    async with repository.transaction() as conn:
        numbers = {name: f"3161234{n:04d}" for n, name in enumerate(shapes)}
        stored = await upsert_contacts(conn, [ContactValues(wa_id) for wa_id in numbers.values()], now)
        ids = {name: stored[wa_id].contact_id for name, wa_id in numbers.items()}
        await session.save_sessions(conn, {ids[name]: values for name, values in shapes.items()}, now)

    due = await repository.due_sessions(now, 100)

    assert sorted(due) == sorted(ids[name] for name in ("waiting", "idle", "both"))
    assert len(await repository.due_sessions(now, 2)) == 2  # the limit holds across both halves
