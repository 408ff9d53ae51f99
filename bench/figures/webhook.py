"""Figure 3: the gateway path, from the payment's webhook to the booking CONFIRMED."""

from __future__ import annotations

import asyncio
import time
import uuid

from bench.harness import Bench
from bench.load import Pool, new_client, percentiles
from bench.progress import log


async def webhooks(bench: Bench) -> None:
    """Figure 3: gateway path, webhook received to booking CONFIRMED (DB timestamps)."""
    n = bench.plan.webhooks
    pool = Pool(await bench.data.slots(n))
    create = bench.engine_request(pool, "gateway", expect="AWAITING_PAYMENT")
    ids: list[uuid.UUID] = []
    observed: list[float] = []
    async with new_client(4) as http:
        for i in range(n):
            if await create(http, i) != 201 or bench.last_c is None:
                bench.results["errors"].append("gateway booking not created")
                continue
            booking_id = bench.last_c
            token = bench.tokens[i % len(bench.tokens)]
            auth = {"Authorization": f"Bearer {token}"}
            got = await http.get(f"{bench.stack.url('api')}/v1/bookings/{booking_id}", headers=auth)
            order = got.json()["payment"]["order_id"]
            t0 = time.perf_counter()
            paid = await http.post(
                f"{bench.stack.url('sandbox')}/v1/orders/{order}/pay",
                json={"outcome": "success"},
            )
            paid.raise_for_status()
            for _ in range(300):  # at most ~30 s
                state = await http.get(
                    f"{bench.stack.url('api')}/v1/bookings/{booking_id}", headers=auth
                )
                if state.json()["status"] == "CONFIRMED":
                    observed.append(time.perf_counter() - t0)
                    break
                await asyncio.sleep(0.01)
            ids.append(uuid.UUID(booking_id))
    rows = await bench.engine_db.fetch(
        """
        SELECT w.booking_id, min(w.received_at) AS received, min(e.at) AS confirmed
          FROM webhook_events w
          JOIN booking_events e ON e.booking_id = w.booking_id AND e.type = 'booking.confirmed'
         WHERE w.booking_id = ANY($1::uuid[])
         GROUP BY w.booking_id
        """,
        ids,
    )
    deltas = [(r["confirmed"] - r["received"]).total_seconds() for r in rows]
    bench.results["webhook"] = {
        "bookings": n,
        "confirmed": len(rows),
        "db_latency_ms": percentiles(deltas),
        "pay_call_to_confirmed_seen_ms": percentiles(observed),
    }
    log(f"webhook->CONFIRMED p50={bench.results['webhook']['db_latency_ms']['p50']}ms")
