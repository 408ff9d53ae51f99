"""Figure 1: bookings per second against clients (closed loop), and latency at one rate (open)."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from bench.harness import Bench
from bench.load import Sample, closed_loop, open_loop, percentiles
from bench.plan import ORDER, SYSTEMS
from bench.progress import log


async def throughput(bench: Bench) -> None:
    """Figure 1 (closed loop): interleaved rounds A B C C B A over the client counts."""
    plan = bench.plan
    bench.samples = {s: {n: [] for n in plan.clients} for s in SYSTEMS}
    log("warm-up")
    for system in SYSTEMS:
        await bench.ensure_c_slots(bench.c_budget(4, 2))
        await closed_loop(bench.request(system), 4, 1.0 if plan.mode == "quick" else 2.0)
    for rnd in range(plan.rounds):
        for system in ORDER:
            for clients in plan.clients:
                if system == "C":
                    await bench.ensure_c_slots(bench.c_budget(clients, plan.seconds))
                sample = await closed_loop(bench.request(system), clients, plan.seconds)
                bench.samples[system][clients].append(sample)
                log(
                    f"round {rnd + 1} {system} clients={clients}: "
                    f"{sample.throughput:.1f}/s p50={percentiles(sample.latencies)['p50']}ms "
                    f"statuses={sample.statuses}"
                )
                await asyncio.sleep(plan.settle)
    out: dict[str, Any] = {}
    for system, by_clients in bench.samples.items():
        out[system] = {}
        for clients, runs in by_clients.items():
            tps = [s.throughput for s in runs]
            pooled = [x for s in runs for x in s.latencies]
            p50s = [percentiles(s.latencies)["p50"] for s in runs]
            out[system][str(clients)] = {
                "throughput_median": round(statistics.median(tps), 2),
                "throughput_min": round(min(tps), 2),
                "throughput_max": round(max(tps), 2),
                "latency_ms": percentiles(pooled),
                "p50_per_sample_ms": p50s,
                "samples": [s.as_dict() for s in runs],
            }
    bench.results["closed_loop"] = out


async def open_loop_latency(bench: Bench) -> None:
    """Figure 1 (open loop): the same arrival rate for all three, half of C's 16-client rate."""
    plan = bench.plan
    ref = 16 if 16 in plan.clients else plan.clients[-1]
    rate = max(2.0, round(0.5 * bench.results["closed_loop"]["C"][str(ref)]["throughput_median"]))
    runs: dict[str, list[Sample]] = {s: [] for s in SYSTEMS}
    for system in plan.open_order:
        if system == "C":
            await bench.ensure_c_slots(int(rate * plan.open_seconds * 1.5) + 100)
        sample = await open_loop(bench.request(system), rate, plan.open_seconds)
        runs[system].append(sample)
        log(
            f"open loop {system} rate={rate}/s: p50={percentiles(sample.latencies)['p50']}ms "
            f"statuses={sample.statuses} dropped={sample.dropped}"
        )
        await asyncio.sleep(plan.settle)
    bench.results["open_loop"] = {
        "rate_per_s": rate,
        "seconds": plan.open_seconds,
        **{
            s: {
                "latency_ms": percentiles([x for r in rs for x in r.latencies]),
                "samples": [r.as_dict() for r in rs],
            }
            for s, rs in runs.items()
        },
    }
