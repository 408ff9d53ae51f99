"""The benchmark's stack: the engine's processes, plus the floor and the baseline beside them."""

from __future__ import annotations

import asyncio
import compileall
import sys
from dataclasses import dataclass

from stack.embedded import free_port
from stack.processes import ROOT, ProcessStack

PY = [sys.executable, "-m"]


@dataclass
class Stack(ProcessStack):
    """Everything `make bench` starts: the engine, the empty-workflow floor, the plain baseline."""

    baseline_dsn: str = ""

    async def start_more(self) -> None:
        """The floor (an empty workflow behind its own HTTP API) and the baseline app."""
        compileall.compile_dir(ROOT / "bench", quiet=1)
        assert self.postgres is not None
        baseline_url = await asyncio.to_thread(self.postgres.url, "bench_baseline")
        self.baseline_dsn = baseline_url.replace("postgresql+asyncpg://", "postgresql://")
        for name in ("floor", "baseline"):
            self.ports[name] = free_port()
        floor_env = {
            "BENCH_PORT": str(self.ports["floor"]),
            "BENCH_FLOOR_TASK_QUEUE": "bench-floor",
        }
        self.spawn("floor-worker", [*PY, "bench.floor", "worker"], floor_env)
        self.spawn("floor-api", [*PY, "bench.floor", "api"], floor_env)
        await self._baseline_schema()
        self.spawn(
            "baseline",
            [*PY, "bench.baseline_app"],
            {"BENCH_PORT": str(self.ports["baseline"]), "BENCH_BASELINE_DSN": self.baseline_dsn},
        )
        await self.wait_http(f"{self.url('floor')}/healthz")
        await self.wait_http(f"{self.url('baseline')}/healthz")

    async def _baseline_schema(self) -> None:
        import asyncpg

        from bench.baseline_app import SCHEMA

        conn = await asyncpg.connect(self.baseline_dsn)
        try:
            await conn.execute(SCHEMA)
        finally:
            await conn.close()
