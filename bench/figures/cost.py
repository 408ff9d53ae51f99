"""Figure 6: what one booking costs: CPU per process, database commits, history events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.cpu import cpu_snapshot
from bench.harness import Bench
from bench.load import closed_loop
from bench.plan import SYSTEMS
from bench.progress import log


async def cost(bench: Bench) -> None:
    """Figure 6: CPU seconds per process, DB transactions and history events per booking."""
    pids = bench.stack.pids()
    out: dict[str, Any] = {}
    idle_before = cpu_snapshot(pids)
    await asyncio.sleep(2.0)
    idle_after = cpu_snapshot(pids)
    out["idle_cpu_per_s"] = {
        k: round((idle_after[k] - idle_before[k]) / 2.0, 4) for k in idle_before
    }
    for system in SYSTEMS:
        if system == "C":
            await bench.ensure_c_slots(bench.c_budget(16, bench.plan.cost_seconds))
        dbname = {"A": "bench_baseline", "C": "booking"}.get(system)
        xact0 = await bench.xacts(dbname)
        before = cpu_snapshot(pids)
        t_before = time.monotonic()
        sample = await closed_loop(bench.request(system), 16, bench.plan.cost_seconds)
        # The engine's background steps (meeting link, notification) belong to the booking.
        await asyncio.sleep(3.0 if bench.plan.mode == "full" else 2.0)
        after = cpu_snapshot(pids)
        window = time.monotonic() - t_before
        await asyncio.sleep(0.8)  # pg_stat counters are flushed about once a second
        xact1 = await bench.xacts(dbname)
        n = max(1, sample.ok)
        out[system] = {
            "bookings": sample.ok,
            "seconds": round(sample.seconds, 2),
            "cpu_ms_per_booking": {k: round((after[k] - before[k]) * 1000 / n, 3) for k in before},
            "window_seconds": round(window, 2),
            # Minus what each process burns when no request arrives (open workflows' timers,
            # pollers): the part of the CPU this system's bookings caused.
            "cpu_ms_per_booking_net_of_idle": {
                k: round(
                    max(0.0, after[k] - before[k] - out["idle_cpu_per_s"][k] * window) * 1000 / n,
                    3,
                )
                for k in before
            },
            "cpu_ms_per_booking_total_servers": round(
                sum(after[k] - before[k] for k in before if k != "loadgen") * 1000 / n, 3
            ),
            "db_xact_commit_per_booking": (
                round((xact1 - xact0) / n, 2) if dbname is not None else 0
            ),
        }
        log(f"cost {system}: {out[system]}")
        await asyncio.sleep(bench.plan.settle)
    await asyncio.sleep(2.0)
    out["history"] = {
        "C": await bench.history(f"booking-{bench.last_c}"),
        "B": await bench.history(f"floor-{bench.last_b}"),
        "R": await bench.history(str(bench.raw.last)),
    }
    bench.results["cost"] = out
