"""The fault suite's stack: every part of the engine as its own process, to kill and restart.

Unlike the rest of the tests (one process, in-memory HTTP), this runs the
engine as it is deployed: PostgreSQL, Temporal (its database in a file), the
sandbox gateway, the worker and the API, each a process started by
``booking-engine``, talking over real sockets. The tests SIGKILL workers at
crash points, restart Temporal and PostgreSQL, and then check the
invariants of ``support.invariants`` straight in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from core.codec import data_converter
from core.crashpoints import CrashPoint
from stack.processes import ProcessStack

from support.auth import JWT_SECRET, PAYLOAD_KEYS
from support.invariants import INVARIANTS


@pytest.fixture(scope="session")
def stack_dir() -> Iterator[Path]:
    """The fault stack's directory (logs, data, crash markers); removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="booking-faults-"))
    workdir.chmod(0o755)  # The embedded servers drop root.
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
async def stack(stack_dir: Path) -> AsyncIterator[ProcessStack]:
    """The engine as separate processes, for the whole fault suite."""
    stack = ProcessStack(
        stack_dir,
        overrides={
            "BOOKING_JWT_SECRET": JWT_SECRET,
            "BOOKING_PAYLOAD_KEYS": PAYLOAD_KEYS,
            "BOOKING_LOG_LEVEL": "INFO",
            "BOOKING_WORKER_DRAIN_SECONDS": "1",
            "BOOKING_MEETING_PROVIDER": "jitsi",
        },
    )
    try:
        await stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
async def api(stack: ProcessStack) -> AsyncIterator[httpx.AsyncClient]:
    """The stack's API over HTTP."""
    async with httpx.AsyncClient(base_url=stack.url("api"), timeout=60) as client:
        yield client


@pytest.fixture
async def gateway(stack: ProcessStack) -> AsyncIterator[httpx.AsyncClient]:
    """The stack's sandbox gateway over HTTP (the customer's pay and decline buttons)."""
    async with httpx.AsyncClient(base_url=stack.url("sandbox"), timeout=30) as client:
        yield client


@pytest.fixture
async def temporal(stack: ProcessStack) -> Client:
    """A client of the stack's Temporal, with the stack's payload keys."""
    assert stack.temporal is not None
    return await Client.connect(stack.temporal.address, data_converter=data_converter(PAYLOAD_KEYS))


@pytest.fixture
async def db(stack: ProcessStack) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the stack's database; the invariants hold after every test."""
    conn = await asyncpg.connect(stack.engine_dsn)
    try:
        yield conn
        await assert_invariants(conn)
    finally:
        await conn.close()


async def assert_invariants(conn: asyncpg.Connection) -> None:
    """Every invariant of ``support.invariants`` holds now."""
    for breach, query in INVARIANTS.items():
        rows = await conn.fetch(query)
        assert rows == [], f"{breach}: {[dict(r) for r in rows]}"


class Workers:
    """The stack's worker, replaced by one armed to die at a crash point, then by a clean one."""

    def __init__(self, stack: ProcessStack) -> None:
        self.stack = stack
        self.kills = 0

    def arm(self, point: CrashPoint) -> None:
        """Replace the running worker by one that dies the first time it passes ``point``."""
        markers = self.stack.workdir / f"crash-{uuid.uuid4().hex[:8]}"
        markers.mkdir()
        self.stack.kill("worker")
        self.stack.spawn_worker(
            "worker",
            {"BOOKING_CRASH_AT": point.value, "BOOKING_CRASH_MARKER_DIR": str(markers)},
        )

    async def died(self, within: float = 90) -> int:
        """Wait for the armed worker to kill itself; start a clean one; its exit code."""
        child = self.stack.child("worker")
        code = await asyncio.to_thread(child.process.wait, within)
        self.stack.forget(child)
        self.kills += 1
        self.stack.spawn_worker("worker")
        return code


@pytest.fixture
def workers(stack: ProcessStack) -> Workers:
    """Crash-point workers for one test."""
    return Workers(stack)
