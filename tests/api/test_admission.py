"""The per-slot admission gate: no more undecided creates than free seats."""

from __future__ import annotations

import asyncio
import uuid

from api.admission import SlotAdmission


class Seats:
    """A slot's free capacity as the gate reads it, changed by the test."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.reads = 0

    async def read(self) -> int:
        self.reads += 1
        return self.free


async def test_full_slot_is_refused_without_waiting() -> None:
    gate, slot = SlotAdmission(max_wait=30), uuid.uuid4()
    async with gate.admit(slot, Seats(0).read) as admitted:
        assert admitted is False
    assert gate.in_flight(slot) == 0


async def test_waiters_are_refused_once_the_admitted_request_takes_the_last_seat() -> None:
    gate, slot, seats = SlotAdmission(max_wait=30), uuid.uuid4(), Seats(1)
    winner_in, decided = asyncio.Event(), asyncio.Event()
    outcomes: list[bool] = []

    async def first() -> None:
        async with gate.admit(slot, seats.read) as admitted:
            outcomes.append(admitted)
            winner_in.set()
            await decided.wait()
            seats.free = 0  # the hold committed

    async def later() -> None:
        async with gate.admit(slot, seats.read) as admitted:
            outcomes.append(admitted)

    winner = asyncio.create_task(first())
    await winner_in.wait()
    losers = [asyncio.create_task(later()) for _ in range(50)]
    await asyncio.sleep(0)  # let them reach the gate
    assert gate.in_flight(slot) == 1
    assert not any(task.done() for task in losers)  # they wait, they are not let through

    reads_before = seats.reads
    decided.set()
    await asyncio.gather(winner, *losers)

    assert outcomes == [True] + [False] * 50
    assert gate.in_flight(slot) == 0
    # The fifty waiters the decision woke share one reading of the slot.
    assert seats.reads - reads_before == 1


async def test_a_waiter_goes_through_when_the_admitted_request_fails() -> None:
    gate, slot, seats = SlotAdmission(max_wait=30), uuid.uuid4(), Seats(1)
    inside, done = asyncio.Event(), asyncio.Event()

    async def failing() -> None:
        async with gate.admit(slot, seats.read) as admitted:
            assert admitted
            inside.set()
            await done.wait()  # refused (say, no funds): the seat stays free

    first = asyncio.create_task(failing())
    await inside.wait()
    second_result: list[bool] = []

    async def second() -> None:
        async with gate.admit(slot, seats.read) as admitted:
            second_result.append(admitted)

    waiting = asyncio.create_task(second())
    await asyncio.sleep(0)
    assert not waiting.done()
    done.set()
    await asyncio.gather(first, waiting)
    assert second_result == [True]


async def test_as_many_pass_at_once_as_there_are_free_seats() -> None:
    gate, slot, seats = SlotAdmission(max_wait=30), uuid.uuid4(), Seats(3)
    release = asyncio.Event()
    admitted_now: list[bool] = []

    async def one() -> None:
        async with gate.admit(slot, seats.read) as admitted:
            admitted_now.append(admitted)
            await release.wait()

    tasks = [asyncio.create_task(one()) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert admitted_now == [True, True, True]
    assert gate.in_flight(slot) == 3
    release.set()
    await asyncio.gather(*tasks)
    assert admitted_now == [True] * 5


async def test_a_waiter_kept_past_max_wait_is_let_through_to_the_workflow() -> None:
    gate, slot, seats = SlotAdmission(max_wait=0.05), uuid.uuid4(), Seats(1)
    inside, done = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        async with gate.admit(slot, seats.read):
            inside.set()
            await done.wait()

    holder = asyncio.create_task(slow())
    await inside.wait()
    async with gate.admit(slot, seats.read) as admitted:
        # The database decides from here; the gate never fails a request itself.
        assert admitted is True
        assert gate.in_flight(slot) == 2
    done.set()
    await holder
    assert gate.in_flight(slot) == 0
