"""The processes run on the event loop their settings name: uvloop unless told otherwise."""

from __future__ import annotations

import asyncio

import uvloop

from core.loop import run
from core.settings import Settings


async def _loop_kind() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_uvloop_runs_the_coroutine_on_a_uvloop_loop() -> None:
    assert run(_loop_kind(), "uvloop") is uvloop.Loop


def test_asyncio_runs_it_on_asyncios_own_loop() -> None:
    kind = run(_loop_kind(), "asyncio")

    assert not issubclass(kind, uvloop.Loop)
    assert kind.__module__.startswith("asyncio")


def test_the_processes_default_to_uvloop() -> None:
    assert Settings().event_loop == "uvloop"
