"""Waiting for what another process does, where there is no event to await."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Awaitable[Any]],
    *,
    within: float = 90,
    every: float = 0.25,
    what: str = "condition",
) -> Any:
    """Poll ``check`` (across processes there is no event to await) until it returns truthy."""
    async with asyncio.timeout(within):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(every)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first
