"""Admission of create requests per slot: no more undecided creates than free seats.

A burst of creates on one slot (a popular class opening, a retry storm) would
otherwise start one workflow per request, and every loser would queue behind
the winner in the worker only to be refused. The gate lets at most as many
requests through as the slot has free seats; the others wait for one of those
to be decided, read the slot again, and are refused at once when it is full.

This is an optimisation, never the decision: the hold activity's conditional
UPDATE and the database constraints still decide who gets a seat. Each API
process has its own gate, so with N processes up to N times the free seats
may be in flight; a waiter that is kept longer than ``max_wait`` goes through
to the workflow rather than fail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class _Slot:
    """Requests of one slot in this process: how many are in flight, and a way to wait.

    ``decided`` counts the decisions that woke the waiters; ``reading`` is the
    free-seat reading taken after the latest one, which every waiter it woke
    shares (a burst's hundreds of waiters read the slot once, not each).
    """

    __slots__ = ("changed", "decided", "in_flight", "reading", "users")

    def __init__(self) -> None:
        self.changed = asyncio.Condition()
        self.in_flight = 0
        self.users = 0
        self.decided = 0
        self.reading: tuple[int, asyncio.Future[int]] | None = None

    async def read_after_decision(self, free_seats: Callable[[], Awaitable[int]]) -> int:
        """Free seats read after the latest decision, shared by the waiters it woke."""
        decided = self.decided
        if self.reading is None or self.reading[0] != decided:
            self.reading = (decided, asyncio.ensure_future(free_seats()))
        return await asyncio.shield(self.reading[1])


class SlotAdmission:
    """Per-slot gate for create requests in one API process."""

    def __init__(self, max_wait: float) -> None:
        self._max_wait = max_wait
        self._slots: dict[uuid.UUID, _Slot] = {}

    def in_flight(self, slot_id: uuid.UUID) -> int:
        """Requests for ``slot_id`` admitted and not yet decided (for tests and metrics)."""
        entry = self._slots.get(slot_id)
        return entry.in_flight if entry is not None else 0

    @asynccontextmanager
    async def admit(
        self,
        slot_id: uuid.UUID,
        free_seats: Callable[[], Awaitable[int]],
        *,
        known_free: int | None = None,
    ) -> AsyncIterator[bool]:
        """Hold a pass for ``slot_id`` while the body runs; yields False when the slot is full.

        ``free_seats`` reads the slot's free capacity; ``known_free`` is a reading
        the caller already made, used for the first check. Seats held by requests
        in flight count in both readings, so the gate errs towards waiting.
        """
        entry = self._slots.setdefault(slot_id, _Slot())
        entry.users += 1
        admitted = False
        try:
            admitted = await self._wait_for_pass(entry, free_seats, known_free)
            yield admitted
        finally:
            if admitted:
                async with entry.changed:
                    entry.in_flight -= 1
                    entry.decided += 1
                    entry.changed.notify_all()
            entry.users -= 1
            if entry.users == 0:
                del self._slots[slot_id]

    async def _wait_for_pass(
        self, entry: _Slot, free_seats: Callable[[], Awaitable[int]], known_free: int | None
    ) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        free = known_free if known_free is not None else await free_seats()
        while True:
            if free <= 0:
                return False
            async with entry.changed:
                if entry.in_flight < free:
                    entry.in_flight += 1
                    return True
                remaining = deadline - loop.time()
                if remaining <= 0:
                    # Waited long enough: let the workflow (and the database) decide.
                    entry.in_flight += 1
                    return True
                try:
                    await asyncio.wait_for(entry.changed.wait(), timeout=remaining)
                except TimeoutError:
                    continue
            free = await entry.read_after_decision(free_seats)
