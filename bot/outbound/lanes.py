"""The sender's lanes: one per business number, each with its own throttle and its own batches in flight.

Meta's throughput limit is per number, so each number's sends pass a throttle of their own, sized to
that number's limit over the senders alive (bot/outbound/share.py). Each lane also holds at most
`IN_FLIGHT` batches being sent at once (and at most `SETTLING` more whose sends are answered and which are
being recorded), and the sender claims only for lanes with room: a number whose campaign fills
its lane waits at its own throttle, while the other numbers' rows are still claimed and sent; and each
number's rows are claimed on their own, a batch per number in turn, so a number's long queue gets one
batch per round like every other. That is what keeps one number's campaign from delaying another
number's replies.

A row's number is its `phone_number_id`; a row without one (written before several numbers, or by a
caller that named none) goes out from the default number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.numbers.number import NumberBook
from bot.outbound.outcome import Window
from bot.outbound.throughput import Throttle
from storage.models import ConversationBase, OutboxBase
from storage.policy import BatchContext

IN_FLIGHT = 3
# A batch stops counting as in flight when its last send is answered, not when it is recorded: recording
# 250 sends took 200-400 ms on SQLite, and while all three batches were being recorded nothing was claimed,
# so the number's limit sat idle for a quarter of a second at a time. The batches being recorded have
# their own bound, so a slow database still holds the claims back.
SETTLING = 3


@dataclass
class Lane:
    """One number's throttle, how many of its batches are being sent, and how many are being recorded."""

    number: str
    limit: int  # the number's own limit, before it is shared between senders
    throttle: Throttle
    marketing: Throttle  # marketing's own gate at half the rate, used while Meta rates the number YELLOW
    flying: int = field(default=0)
    settling: int = field(default=0)

    @property
    def full(self) -> bool:
        return self.flying >= IN_FLIGHT or self.settling >= SETTLING


class Lanes:
    """Every number's lane, kept in step with the book of numbers; the default number's lane always exists."""

    def __init__(self, book: NumberBook, throttle: Callable[[int], Throttle]) -> None:
        self._book = book
        self._throttle = throttle
        self._lanes: dict[str, Lane] = {}
        self._senders = 1
        self.update()

    @property
    def several(self) -> bool:
        """Whether more than one number is served: windows and conversations are then kept per number."""
        return len(self._book) > 1

    def update(self, senders: int | None = None) -> list[Lane]:
        """Follow the book (numbers added, limits changed) and the senders alive; the lanes whose rate changed."""
        self._senders = senders or self._senders
        changed = []
        for number in self._book:
            rate = max(1, number.throughput // self._senders)
            lane = self._lanes.get(number.id)
            if lane is None:
                self._lanes[number.id] = Lane(
                    number.id, number.throughput, self._throttle(rate), self._throttle(max(1, rate // 2))
                )
            elif lane.throttle.rate != rate:
                lane.limit = number.throughput
                lane.throttle.resize(rate)
                lane.marketing.resize(max(1, rate // 2))
                changed.append(lane)
        return changed

    def of(self, row: OutboxBase) -> Lane:
        """The lane `row` goes out in: its number's, or the default number's."""
        return self._lanes.get(row.phone_number_id or "") or self._lanes[self._book.get(row.phone_number_id).id]

    def with_room(self) -> list[Lane]:
        """The lanes of numbers served that may take one more batch, in the book's order."""
        served = [self._lanes[n.id] for n in self._book if n.id in self._lanes]
        return [lane for lane in served if not lane.full]

    @property
    def all_full(self) -> bool:
        return all(lane.full for lane in self._lanes.values())

    def open_conversations(self, row: OutboxBase, context: BatchContext) -> list[ConversationBase]:
        """The contact's open conversations on the row's number (all of them while one number is served)."""
        found = context.open_conversations.get(row.contact_id, [])
        if not self.several:
            return found
        number, default = self.of(row).number, self._book.default.id
        return [c for c in found if (c.phone_number_id or default) == number]

    def window(self, row: OutboxBase, context: BatchContext) -> Window | None:
        """When the customer last wrote to the row's number; None while one number is served (the contact's)."""
        if not self.several:
            return None
        number, default = self.of(row).number, self._book.default.id
        times: list[datetime] = [
            at
            for (cid, n), at in context.inbound_by_number.items()
            if cid == row.contact_id and (n or default) == number
        ]
        return Window(max(times, default=None))
