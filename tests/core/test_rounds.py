"""Rounds: the items of one moment handled by one call, none left waiting."""

from __future__ import annotations

import asyncio

import pytest

from core.rounds import Batch, Rounds


class Doubler:
    """Answers each item with twice its value and records the rounds it was given."""

    def __init__(self) -> None:
        self.rounds: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()

    async def handle(self, batch: Batch[int, int]) -> None:
        self.rounds.append([item for item, _ in batch])
        self.started.set()
        await self.release.wait()
        for item, answered in batch:
            if not answered.done():
                answered.set_result(item * 2)


async def test_a_lone_item_is_handled_in_a_round_of_its_own() -> None:
    doubler = Doubler()
    rounds = Rounds(doubler.handle)

    assert await rounds.submit(4) == 8
    assert doubler.rounds == [[4]]


async def test_items_of_one_moment_share_a_round_and_later_ones_gather_for_the_next() -> None:
    doubler = Doubler()
    doubler.release.clear()
    rounds = Rounds(doubler.handle)
    first = [asyncio.ensure_future(rounds.submit(i)) for i in range(5)]
    await doubler.started.wait()  # the first round is running, held open
    later = [asyncio.ensure_future(rounds.submit(i)) for i in range(5, 8)]
    await asyncio.sleep(0)  # the later callers queue their items
    doubler.release.set()

    assert await asyncio.gather(*first, *later) == [i * 2 for i in range(8)]
    assert doubler.rounds == [[0, 1, 2, 3, 4], [5, 6, 7]]


async def test_a_failed_round_fails_each_of_its_callers_and_the_next_round_still_runs() -> None:
    calls = 0

    async def flaky(batch: Batch[int, int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database gone")
        for item, answered in batch:
            answered.set_result(item)

    rounds = Rounds(flaky)
    failed = await asyncio.gather(*(rounds.submit(i) for i in range(3)), return_exceptions=True)
    assert [type(e) for e in failed] == [ConnectionError] * 3
    assert await rounds.submit(9) == 9


async def test_a_caller_that_gives_up_does_not_stop_the_round() -> None:
    doubler = Doubler()
    doubler.release.clear()
    rounds = Rounds(doubler.handle)
    impatient = asyncio.ensure_future(rounds.submit(1))
    patient = asyncio.ensure_future(rounds.submit(2))
    await doubler.started.wait()
    impatient.cancel()
    doubler.release.set()

    assert await patient == 4
    with pytest.raises(asyncio.CancelledError):
        await impatient
