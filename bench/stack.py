"""The stack under test, in a temporary directory on free ports, and its teardown.

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
from core.settings import generate_secret
from stack.embedded import EmbeddedPostgres, TemporalDevServer, _die_with_parent, free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Child:
    """A child process of the stack."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Stack:
    """Everything `make bench` starts, and the settings it started them with."""

    workdir: Path
    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None
    children: list[Child] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    engine_url: str = ""
    engine_dsn: str = ""
    baseline_dsn: str = ""
    jwt_secret: str = ""
    # Engine settings on top of the defaults below (the levers), and worker processes.
    overrides: dict[str, str] = field(default_factory=dict)
    workers: int = 1

    # ---- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        """PostgreSQL, Temporal, then the sandbox, the engine, the floor and the baseline."""
        from core.migrate import upgrade

        self.workdir.mkdir(parents=True, exist_ok=True)
        # As an installed package is: the sandbox re-imports the workflow modules
        # for each new workflow run, and without .pyc files compiles them each time.
        for package in ("workflows", "models", "core", "activities", "api", "sandbox", "bench"):
            compileall.compile_dir(ROOT / package, quiet=1)
        self.postgres = EmbeddedPostgres(self.workdir / "pg")
        await asyncio.to_thread(self.postgres.start)
        self.engine_url = await asyncio.to_thread(self.postgres.url, "booking")
        baseline_url = await asyncio.to_thread(self.postgres.url, "bench_baseline")
        self.engine_dsn = self.engine_url.replace("postgresql+asyncpg://", "postgresql://")
        self.baseline_dsn = baseline_url.replace("postgresql+asyncpg://", "postgresql://")
        await asyncio.to_thread(upgrade, self.engine_url)

        for name in ("temporal", "api", "sandbox", "floor", "baseline"):
            self.ports[name] = free_port()
        self.temporal = TemporalDevServer(
            port=self.ports["temporal"],
            ui_port=None,
            db_file=self.workdir / "temporal.db",
            log_file=self.workdir / "temporal.log",
        )
        await self.temporal.start()

        self.jwt_secret = generate_secret()
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
            "BOOKING_TASK_QUEUE": "bench-bookings",
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
            **self.overrides,
        }
        engine = [str(BIN / "booking-engine")]
        py = [sys.executable, "-m"]
        self._spawn("sandbox", [*engine, "sandbox"], {})
        for n in range(self.workers):
            self._spawn("worker" if n == 0 else f"worker-{n + 1}", [*engine, "worker"], {})
        self._spawn("api", [*engine, "api"], {})
        floor_env = {
            "BENCH_PORT": str(self.ports["floor"]),
            "BENCH_FLOOR_TASK_QUEUE": "bench-floor",
        }
        self._spawn("floor-worker", [*py, "bench.floor", "worker"], floor_env)
        self._spawn("floor-api", [*py, "bench.floor", "api"], floor_env)
        await self._baseline_schema()
        self._spawn(
            "baseline",
            [*py, "bench.baseline_app"],
            {"BENCH_PORT": str(self.ports["baseline"]), "BENCH_BASELINE_DSN": self.baseline_dsn},
        )
        await self._wait_http(f"{self.url('api')}/readyz")
        await self._wait_http(f"{self.url('sandbox')}/healthz")
        await self._wait_http(f"{self.url('floor')}/healthz")
        await self._wait_http(f"{self.url('baseline')}/healthz")

    def url(self, name: str) -> str:
        """The base URL of an HTTP service of the stack."""
        return f"http://127.0.0.1:{self.ports[name]}"

    def _spawn(self, name: str, cmd: list[str], extra: dict[str, str]) -> None:
        env = {**os.environ, **self.settings, **extra, "PYTHONPATH": str(ROOT)}
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
        self.children.append(Child(name, process, log))

    async def _wait_http(self, url: str, within: float = 60.0) -> None:
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

    async def _baseline_schema(self) -> None:
        import asyncpg

        from bench.baseline_app import SCHEMA

        conn = await asyncpg.connect(self.baseline_dsn)
        try:
            await conn.execute(SCHEMA)
        finally:
            await conn.close()

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
