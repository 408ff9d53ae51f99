"""Figure 7: a range resource's free starts, read through the API, under many bookings."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.harness import Bench
from bench.load import percentiles
from bench.progress import log
from core.auth import issue_token

# A range resource's active bookings, and its weekly hours (open all day).
AVAILABILITY_BOOKINGS = 10_000
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def availability(bench: Bench) -> None:
    """Figure 7: free starts of a range resource holding 10,000 active bookings.

    One-hour bookings every three hours (a 30-minute buffer after each) over
    about three and a half years; each window asks for one-hour rentals on a
    30-minute step. Requests go one at a time through the API, as a
    customer's calendar would send them.
    """
    operator = issue_token(bench.stack.jwt_secret, uuid.uuid4(), "operator", 7200)
    customer = bench.tokens[0]
    week = [{"day": d, "start": "00:00", "end": "24:00"} for d in DAYS]
    async with httpx.AsyncClient(base_url=bench.stack.url("api"), timeout=60) as api:
        created = await api.post(
            "/v1/resources",
            json={
                "name": "Bench car",
                "timezone": "Asia/Kolkata",
                "booking_mode": "range",
                "rate": {"per": "hour", "price": {"amount": 10_000, "currency": "INR"}},
                "min_duration_minutes": 60,
                "max_duration_minutes": 14 * 1440,
                "buffer_minutes": 30,
                "horizon_days": 3650,
                "availability": {"weekly": week},
            },
            headers={"Authorization": f"Bearer {operator}"},
        )
        created.raise_for_status()
        car = uuid.UUID(created.json()["id"])
        first = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        every = timedelta(hours=3)
        await bench.data.range_bookings(
            car, AVAILABILITY_BOOKINGS, first, every, timedelta(minutes=30)
        )
        out: dict[str, Any] = {"bookings": AVAILABILITY_BOOKINGS, "windows": {}}
        for days in (1, 7, 93):
            start = first + timedelta(days=30)
            params: dict[str, str | int] = {
                "from": start.isoformat(),
                "to": (start + timedelta(days=days)).isoformat(),
                "duration_minutes": 60,
                "step_minutes": 30,
            }
            auth = {"Authorization": f"Bearer {customer}"}
            seconds: list[float] = []
            items = 0
            for i in range(bench.plan.availability_requests + 3):
                t = time.perf_counter()
                r = await api.get(f"/v1/resources/{car}/availability", params=params, headers=auth)
                elapsed = time.perf_counter() - t
                if r.status_code != 200:
                    bench.results["errors"].append(f"availability {r.status_code}: {r.text}")
                    break
                items = len(r.json()["items"])
                if i >= 3:  # the first few warm the API's pool and caches
                    seconds.append(elapsed)
            busy = int(days * 24 / (every.total_seconds() / 3600))
            out["windows"][f"{days} d"] = {
                "busy_in_window": busy,
                "free_starts": items,
                "latency_ms": percentiles(seconds),
            }
            log(f"availability {days} d: {items} starts, {percentiles(seconds)}")
    bench.results["availability"] = out
