"""The event loop the engine's processes run on: uvloop, or asyncio's own.

uvloop (libuv, in C) runs the same asyncio programs with less CPU per socket
read and write and per callback; the API, the worker and ``make dev`` use it
unless ``BOOKING_EVENT_LOOP=asyncio`` (docs/performance-notes.md, "Python's collector,
uvloop and the payload converter").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

EventLoop = Literal["uvloop", "asyncio"]


def loop_factory(loop: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of ``loop``'s event loops; None: asyncio's default."""
    if loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def run(main: Coroutine[Any, Any, T], loop: EventLoop) -> T:
    """Run ``main`` to completion on a new event loop of the kind ``loop`` (like asyncio.run)."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main)
