"""Storage code written for `AsyncConnection`, run whole in one worker thread on a synchronous connection.

On SQLite each statement through the async driver is a hand-off to the driver's thread and back through
the event loop; with the loop busy answering sends, each took 10-30 ms, and a sender's settle of 250
sends (seven statements) held SQLite's one write lock for 200-400 ms while claims and the next settles
queued behind it. `Immediate` gives the same query functions a synchronous connection whose `execute`
has finished by the time it is awaited, so `drive` runs the whole coroutine to its end in the worker
thread without the event loop: one hand-off per transaction (`Repository.write_whole`), the way the
webhook's batch writer stores deliveries.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Dialect, Executable
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


class Immediate:
    """The part of `AsyncConnection` the query modules use, on a synchronous connection, done when awaited."""

    def __init__(self, connection: Connection) -> None:
        self.sync_connection = connection

    @property
    def dialect(self) -> Dialect:
        return self.sync_connection.dialect

    async def execute(self, statement: Executable, parameters: Any = None, **options: Any) -> CursorResult[Any]:
        return self.sync_connection.execute(statement, parameters, **options)

    async def scalar(self, statement: Executable, parameters: Any = None, **options: Any) -> Any:
        return self.sync_connection.scalar(statement, parameters, **options)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.sync_connection, *args, **kwargs)


def drive(work: Callable[[AsyncConnection], Coroutine[Any, Any, T]], connection: Connection) -> T:
    """Run `work` on `connection` to its end, here and now; it may await nothing but its connection."""
    coroutine = work(cast(AsyncConnection, Immediate(connection)))
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("storage work awaited something besides its connection: it cannot run whole in a thread")
