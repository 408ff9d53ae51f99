"""The engine as separate processes, in a directory of its own on free ports.

PostgreSQL and Temporal (with its database in a file, so it survives a
restart), the sandbox gateway, one or more workers and the API, each started
as an operator would start it (``booking-engine <part>``). The benchmark and
the fault suite run against it; the fault suite kills and restarts its parts.

Every child runs in its own process group (killed as a group on exit) and gets
SIGTERM if this process dies (``prctl(PR_SET_PDEATHSIG)``).
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.codec import new_key_spec
from core.settings_values import generate_secret
from stack.embedded import (
    TEMPORAL_SQLITE_PRAGMAS,
    EmbeddedPostgres,
    TemporalDevServer,
    _die_with_parent,
    free_port,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENGINE = [str(BIN / "booking-engine")]
# Compiled once, as an installed package is: the sandbox re-imports the workflow
# modules for each new workflow run, and without .pyc files compiles them each time.
PACKAGES = ("workflows", "models", "core", "activities", "api", "sandbox", "store", "integrations")


@dataclass
class Child:
    """A child process of the stack."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class ProcessStack:
    """Every part of the engine as its own process, and the settings it started them with."""

    workdir: Path
    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None
    children: list[Child] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    engine_url: str = ""
    engine_dsn: str = ""
    jwt_secret: str = ""
    # Engine settings on top of the defaults below (the levers), and worker processes.
    overrides: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    # API processes, each on its own port (``api``, ``api-2``, ...); clients spread over them.
    apis: int = 1
    # The Temporal dev server's SQLite pragmas (the bench's levers compare them).
    temporal_sqlite_pragmas: tuple[str, ...] = TEMPORAL_SQLITE_PRAGMAS

    # ---- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        """PostgreSQL, Temporal, then the sandbox, the workers and the API."""
        from core.migrate import upgrade

        self.workdir.mkdir(parents=True, exist_ok=True)
        for package in PACKAGES:
            compileall.compile_dir(ROOT / package, quiet=1)
        self.postgres = EmbeddedPostgres(self.workdir / "pg")
        await asyncio.to_thread(self.postgres.start)
        self.engine_url = await asyncio.to_thread(self.postgres.url, "booking")
        self.engine_dsn = self.engine_url.replace("postgresql+asyncpg://", "postgresql://")
        await asyncio.to_thread(upgrade, self.engine_url)

        for name in ("temporal", "api", "sandbox"):
            self.ports[name] = free_port()
        self.temporal = TemporalDevServer(
            port=self.ports["temporal"],
            ui_port=None,
            db_file=self.workdir / "temporal.db",
            log_file=self.workdir / "temporal.log",
            sqlite_pragmas=self.temporal_sqlite_pragmas,
        )
        await self.temporal.start()

        self.jwt_secret = self.overrides.get("BOOKING_JWT_SECRET") or generate_secret()
        self.settings = {
            "BOOKING_ENV": "production",
            "BOOKING_LOG_LEVEL": "WARNING",
            "BOOKING_LOG_FORMAT": "json",
            "BOOKING_DATA_DIR": str(self.workdir / "data"),
            "BOOKING_DATABASE_URL": self.engine_url,
            "BOOKING_DB_POOL_SIZE": "10",
            "BOOKING_DB_MAX_OVERFLOW": "20",
            "BOOKING_TEMPORAL_ADDRESS": self.temporal.address,
            "BOOKING_TEMPORAL_NAMESPACE": "default",
            "BOOKING_TASK_QUEUE": "bookings",
            "BOOKING_API_HOST": "127.0.0.1",
            "BOOKING_API_PORT": str(self.ports["api"]),
            "BOOKING_SANDBOX_PORT": str(self.ports["sandbox"]),
            "BOOKING_SMTP_PORT": str(free_port()),
            "BOOKING_MEETING_PROVIDER": "jitsi",
            "BOOKING_JWT_SECRET": self.jwt_secret,
            "BOOKING_PAYLOAD_KEYS": new_key_spec(),
            "BOOKING_SANDBOX_API_KEY": generate_secret(),
            "BOOKING_SANDBOX_WEBHOOK_SECRET": generate_secret(),
            "BOOKING_CREATE_TIMEOUT_SECONDS": "30",
            "BOOKING_HOLD_TTL_SECONDS": "600",
            # The limiter stays on (its cost is part of C) but never refuses the load
            # generator's one address and few customers.
            "BOOKING_RATE_LIMIT_PER_CUSTOMER": "100000000",
            "BOOKING_RATE_LIMIT_PER_ADDRESS": "100000000",
            "BOOKING_MAX_ACTIVE_HOLDS": "1000",
            "BOOKING_WORKFLOW_SANDBOX": "true",
            # The bench's synthetic rows have no workflows; a reconciliation run would sweep them
            # in the middle of a measurement. The jobs have tests of their own.
            "BOOKING_RECONCILE_SCHEDULES": "false",
            **self.overrides,
        }
        self.spawn("sandbox", [*ENGINE, "sandbox"])
        for n in range(self.workers):
            self.spawn_worker("worker" if n == 0 else f"worker-{n + 1}")
        self.spawn("api", [*ENGINE, "api"])
        for n in range(2, self.apis + 1):
            self.ports[f"api-{n}"] = free_port()
            self.spawn(
                f"api-{n}", [*ENGINE, "api"], {"BOOKING_API_PORT": str(self.ports[f"api-{n}"])}
            )
        await self.start_more()
        for url in self.api_urls():
            await self.wait_http(f"{url}/readyz")
        await self.wait_http(f"{self.url('sandbox')}/healthz")

    async def start_more(self) -> None:
        """Start what a subclass adds, after the engine and before the readiness waits."""

    def spawn_worker(self, name: str = "worker", extra: dict[str, str] | None = None) -> Child:
        """Start a worker process (``extra``: settings of its own, such as a crash point)."""
        own = {"BOOKING_WORKER_METRICS_PORT": str(free_port()), **(extra or {})}
        return self.spawn(name, [*ENGINE, "worker"], own)

    def api_urls(self) -> list[str]:
        """The base URL of each API process."""
        return [self.url("api")] + [self.url(f"api-{n}") for n in range(2, self.apis + 1)]

    def url(self, name: str) -> str:
        """The base URL of an HTTP service of the stack."""
        return f"http://127.0.0.1:{self.ports[name]}"

    def spawn(self, name: str, cmd: list[str], extra: dict[str, str] | None = None) -> Child:
        """Start ``cmd`` as the child ``name``, with the stack's settings and ``extra``."""
        env = {**os.environ, **self.settings, **(extra or {}), "PYTHONPATH": str(ROOT)}
        log = self.workdir / f"{name}.log"
        out = open(log, "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(  # noqa: S603 - our own commands
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        out.close()
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def child(self, name: str) -> Child:
        """The running child called ``name``."""
        return next(c for c in reversed(self.children) if c.name == name)

    def kill(self, name: str) -> int:
        """SIGKILL the child ``name`` (its whole process group) and forget it; its exit code."""
        child = self.child(name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)
        code = child.process.wait(timeout=10)
        self.children.remove(child)
        return code

    def forget(self, child: Child) -> None:
        """Drop a child that has exited by itself (a crash point)."""
        self.children.remove(child)

    async def restart_temporal(self) -> None:
        """Stop Temporal (its database file is kept) and start it again on the same port."""
        assert self.temporal is not None
        self.temporal.stop()
        await self.temporal.start()

    async def restart_postgres(self) -> None:
        """Stop PostgreSQL (its data directory is kept) and start it again."""
        assert self.postgres is not None
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.to_thread(self.postgres.start)

    async def wait_http(self, url: str, within: float = 60.0) -> None:
        """Wait until ``url`` answers 200 (every child must stay alive meanwhile)."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                self._check_alive()
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} not ready within {within}s")
                await asyncio.sleep(0.2)

    def _check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                tail = child.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{child.name} exited ({child.process.returncode}):\n{tail}")

    # ---- processes for CPU accounting -----------------------------------------------------

    def pids(self) -> dict[str, int]:
        """Root pid of each process we account CPU for."""
        pids = {c.name: c.process.pid for c in self.children}
        if self.temporal is not None and self.temporal._process is not None:
            pids["temporal"] = self.temporal._process.pid
        if self.postgres is not None and self.postgres._server is not None:
            pids["postgres"] = self.postgres._server.get_postmaster_info().pid
        return pids

    # ---- stop -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every child (process group SIGTERM, then SIGKILL), Temporal, PostgreSQL."""
        for child in reversed(self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)
        self.children.clear()
        if self.temporal is not None:
            self.temporal.stop()
            self.temporal = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
