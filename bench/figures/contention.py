"""Figure 4: many concurrent creates on one slot; one wins, every other is refused."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from bench.harness import Bench
from bench.load import percentiles, raw_post
from bench.progress import log


async def contention(bench: Bench) -> None:
    """Figure 4: N concurrent creates on one slot: one winner, every loser 409."""
    n = bench.plan.contention
    slot = (await bench.data.slots(1))[0]
    url = f"{bench.stack.url('api')}/v1/bookings"
    results: list[tuple[int, float]] = []

    body = json.dumps({"slot_id": str(slot), "payment": {"method": "wallet"}}).encode()
    # Every request on its own connection, opened before the clock starts, its
    # bytes written at once (bench.load.raw_post: httpx's own CPU per request
    # at this concurrency was about 10 ms, more than the API's).
    go = asyncio.Event()
    started = 0.0

    async def one(i: int) -> None:
        headers = {
            "Authorization": f"Bearer {bench.tokens[i]}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        try:
            status = await raw_post(url, body, headers, go)
            results.append((status, time.perf_counter() - started))
        except (OSError, ValueError, IndexError) as exc:
            results.append((-1, time.perf_counter() - started))
            bench.results["errors"].append(f"contention: {type(exc).__name__}")

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.sleep(1.0)  # the connections open
    started = time.perf_counter()
    go.set()
    await asyncio.wait(tasks, timeout=180)
    wall = time.perf_counter() - started
    db = await bench.engine_db.fetchrow(
        """
        SELECT (SELECT count(*) FROM bookings WHERE slot_id = $1
                  AND status IN ('HELD', 'AWAITING_PAYMENT', 'CONFIRMED')) AS active,
               (SELECT count(*) FROM bookings WHERE slot_id = $1) AS rows,
               (SELECT active_count FROM slots WHERE id = $1) AS active_count,
               (SELECT count(*) FROM ledger_entries l JOIN bookings b ON b.id = l.booking_id
                 WHERE b.slot_id = $1 AND l.kind = 'debit') AS debits,
               (SELECT count(*) FROM ledger_entries l JOIN bookings b ON b.id = l.booking_id
                 WHERE b.slot_id = $1 AND l.kind = 'refund') AS refunds
        """,
        slot,
    )
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    winners = [lat for s, lat in results if s == 201]
    losers = [lat for s, lat in results if s != 201]
    bench.results["contention"] = {
        "requests": n,
        "answered": len(results),
        "wall_seconds": round(wall, 2),
        "statuses": statuses,
        "db": dict(db),
        "winner_latency_ms": percentiles(winners),
        "loser_latency_ms": percentiles(losers),
        "all_latency_ms": percentiles([lat for _, lat in results]),
    }
    log(f"contention: {statuses} db={dict(db)}")
