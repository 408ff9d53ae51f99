"""The processes as deployed, with the settings that the benchmark measured.

The API's and the worker's collector settled, their event loop uvloop; the
Temporal dev server's database in write-ahead-log mode.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stack.processes import ProcessStack

from support.waiting import eventually


def _logged(stack: ProcessStack, process: str, event: str) -> dict[str, Any] | None:
    """The first JSON line of ``process``'s log for ``event``, if it wrote one yet."""
    for line in (stack.workdir / f"{process}.log").read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            return dict(json.loads(line))
    return None


async def _await_logged(stack: ProcessStack, process: str, event: str) -> dict[str, Any]:
    async def logged() -> dict[str, Any] | None:
        return _logged(stack, process, event)

    return dict(await eventually(logged, within=60, what=f"{process} logged {event}"))


@pytest.mark.parametrize("process", ["api", "worker"])
async def test_process_freezes_its_start_up_heap_and_raises_the_young_threshold(
    stack: ProcessStack, process: str
) -> None:
    line = await _await_logged(stack, process, "collector.settled")

    assert line["thresholds"] == [20_000, 20, 20]
    # Everything imported at start-up is frozen: tens of thousands of objects.
    assert line["frozen"] > 10_000


async def test_worker_runs_on_uvloop(stack: ProcessStack) -> None:
    line = await _await_logged(stack, "worker", "worker.started")

    assert line["event_loop"] == "uvloop"


async def test_temporal_dev_server_keeps_its_database_in_write_ahead_log_mode(
    stack: ProcessStack,
) -> None:
    """SQLite's header says WAL (read and write versions 2), and the log sits beside the file."""
    database = stack.workdir / "temporal.db"

    header = database.read_bytes()[:20]

    assert header[:16] == b"SQLite format 3\x00"
    # A rollback-journal database has 1 and 1 here (sqlite.org/fileformat.html).
    assert header[18:20] == b"\x02\x02"
    assert database.with_name("temporal.db-wal").exists()
