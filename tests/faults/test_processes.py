"""The API and worker processes as deployed: their collector settled, their event loop uvloop."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stack.processes import ProcessStack

from support.waiting import eventually


def _settled(stack: ProcessStack, process: str) -> dict[str, Any] | None:
    """The ``collector.settled`` line of ``process``'s log, if it wrote one yet."""
    for line in (stack.workdir / f"{process}.log").read_text(errors="replace").splitlines():
        if line.startswith("{") and '"collector.settled"' in line:
            return dict(json.loads(line))
    return None


@pytest.mark.parametrize("process", ["api", "worker"])
async def test_process_freezes_its_start_up_heap_and_raises_the_young_threshold(
    stack: ProcessStack, process: str
) -> None:
    async def settled() -> dict[str, Any] | None:
        return _settled(stack, process)

    line = await eventually(settled, within=60, what=f"{process} settled its collector")

    assert line["thresholds"] == [20_000, 20, 20]
    # Everything imported at start-up is frozen: tens of thousands of objects.
    assert line["frozen"] > 10_000


async def test_worker_runs_on_uvloop(stack: ProcessStack) -> None:
    async def started() -> dict[str, Any] | None:
        log = (stack.workdir / "worker.log").read_text(errors="replace")
        for line in log.splitlines():
            if line.startswith("{") and '"worker.started"' in line:
                return dict(json.loads(line))
        return None

    line = await eventually(started, within=60, what="the worker started")

    assert line["event_loop"] == "uvloop"
