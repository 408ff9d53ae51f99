"""Figure 5: the hold decision's latency as the tables grow."""

from __future__ import annotations

import time
from typing import Any

from bench.harness import Bench
from bench.load import Pool, closed_loop
from bench.progress import log


async def growth(bench: Bench) -> None:
    """Figure 5: hold-decision latency (1 client) with 1k and 100k existing bookings."""
    out: dict[str, Any] = {}
    existing = 0
    for target in bench.plan.growth:
        t = time.monotonic()
        await bench.data.bookings(target - existing)
        existing = target
        counts = await bench.engine_db.fetchrow(
            "SELECT (SELECT count(*) FROM bookings) AS bookings,"
            " (SELECT count(*) FROM slots) AS slots"
        )
        log(
            f"growth: {counts['bookings']} bookings, {counts['slots']} slots "
            f"(inserted in {time.monotonic() - t:.1f}s)"
        )
        n = bench.plan.growth_requests
        pool = Pool(await bench.data.slots(n + 10))
        await closed_loop(bench.engine_request(pool, "wallet"), 1, 30, max_requests=10)
        sample = await closed_loop(bench.engine_request(pool, "wallet"), 1, 120, max_requests=n)
        out[str(target)] = {
            "bookings": counts["bookings"],
            "slots": counts["slots"],
            **sample.as_dict(),
        }
        log(f"growth {target}: p50={out[str(target)]['latency_ms']['p50']}ms")
    bench.results["growth"] = out
