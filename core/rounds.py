"""Work of one moment done by one call: many callers' items handled in rounds.

A burst brings hundreds of requests that each need the same kind of statement
(a rate-limit count, a stored refusal). :class:`Rounds` gathers their items:
a lone item goes at once, and while one round's call runs, the next round
gathers whatever arrives meanwhile. So a quiet process adds no wait to a
request, and a busy one makes one round trip per round instead of one per
request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# One round's items, each with the future its caller awaits.
Batch = list[tuple[Item, "asyncio.Future[Result]"]]


class Rounds(Generic[Item, Result]):
    """Callers :meth:`submit` items; ``handle`` answers each round's futures.

    ``handle`` sets every future of its batch that is not done already (a
    caller that gave up has cancelled its own). If it raises, each future it
    left unset gets that exception, so no caller waits for a round that failed.
    """

    def __init__(self, handle: Callable[[Batch[Item, Result]], Awaitable[None]]) -> None:
        self._handle = handle
        self._waiting: Batch[Item, Result] = []
        self._round: asyncio.Future[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Queue ``item`` for the next round and wait for its result."""
        answered: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answered))
        if self._round is None:
            self._round = asyncio.ensure_future(self._rounds())
        return await answered

    async def _rounds(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._handle(batch)
                except Exception as exc:
                    for _, answered in batch:
                        if not answered.done():
                            answered.set_exception(exc)
        finally:
            self._round = None
