"""One run's stack, data and the three systems' requests; the figures (``bench.figures``) use it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from bench.data import EngineData, baseline_setup, rooms
from bench.floor import RawFloor
from bench.load import Pool, Request, Sample
from bench.plan import Plan
from bench.stack import Stack
from core.auth import issue_token


class Bench:
    """One run: the stack, the data, the three systems' requests, what the figures read back."""

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

    # Closed-loop samples by system and clients: written by the throughput figure
    # (bench.figures.throughput), read by c_budget to size the next C measurement.
    samples: dict[str, dict[int, list[Sample]]]

    # -- what the figures read back --

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
