"""A hypothesis state machine over the running stack: bookings, payments, cancels, moves, credits.

Hypothesis picks the order (wallet and gateway bookings on shared slots,
payments that succeed or fail, repeated payments, cancels, reschedules,
credits) and shrinks any failing run to a short one. After every step the
database invariants of ``support.invariants`` hold; after every run, once
the workflows have caught up, a booking that did not go through has kept no
money (every debit and capture given back) and none is left half-held.

Bounded and reproducible: a fixed seed (``derandomize``), a fixed number of
runs and steps (``RUNS``, ``STEPS``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import asyncpg
import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from stack.processes import ProcessStack

from support.auth import OPERATOR, bearer
from support.invariants import INVARIANTS

RUNS = 20
STEPS = 25
PRICES = (3_000, 5_000, 7_000)
TERMINAL = {"CANCELLED", "FAILED", "EXPIRED"}


async def _fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


class Bookings(RuleBasedStateMachine):
    """Customers, slots and bookings on the real stack, driven through its public HTTP APIs."""

    api_url: ClassVar[str] = ""
    sandbox_url: ClassVar[str] = ""
    dsn: ClassVar[str] = ""
    requests: ClassVar[int] = 0
    # What the creates answered, by method and status code, and each run's bookings' final
    # statuses: the invariants hold vacuously if every create is refused, so the test counts.
    answers: ClassVar[Counter[tuple[str, int]]] = Counter()
    finals: ClassVar[list[Counter[str]]] = []

    customers = Bundle("customers")
    slots = Bundle("slots")
    bookings = Bundle("bookings")

    def __init__(self) -> None:
        super().__init__()
        self.api = httpx.Client(base_url=self.api_url, timeout=60)
        self.gateway = httpx.Client(base_url=self.sandbox_url, timeout=30)
        self.made: list[str] = []

    # ---- HTTP, each answer checked for the one rule that holds for all: no server error ----

    def _call(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = client.request(method, url, **kwargs)
        Bookings.requests += 1
        assert response.status_code < 500, f"{method} {url}: {response.text}"
        return response

    # ---- rules ------------------------------------------------------------------------------

    @rule(target=customers, funds=st.sampled_from([0, 5_000, 20_000]))
    def customer(self, funds: int) -> uuid.UUID:
        """A customer, maybe with money in the wallet."""
        customer = uuid.uuid4()
        if funds:
            self.credit(customer, funds)
        return customer

    @rule(customer=customers, amount=st.sampled_from([2_000, 7_000]))
    def credit(self, customer: uuid.UUID, amount: int) -> None:
        """An operator credits a wallet."""
        answer = self._call(
            self.api,
            "POST",
            f"/v1/wallets/{customer}/credits",
            json={"amount": {"amount": amount, "currency": "INR"}, "reason": "state machine"},
            headers={**OPERATOR, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert answer.status_code == 201, answer.text

    @rule(target=slots, price=st.sampled_from(PRICES), capacity=st.integers(1, 2))
    def slot(self, price: int, capacity: int) -> str:
        """A slot five days ahead (a cancel refunds everything), of one or two seats."""
        resource = self._call(
            self.api,
            "POST",
            "/v1/resources",
            json={"name": "Room", "timezone": "Asia/Kolkata"},
            headers=OPERATOR,
        ).json()
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
        made = self._call(
            self.api,
            "POST",
            f"/v1/resources/{resource['id']}/slots",
            json={
                "slots": [
                    {
                        "starts_at": starts.isoformat(),
                        "ends_at": (starts + timedelta(hours=1)).isoformat(),
                        "price": {"amount": price, "currency": "INR"},
                        "capacity": capacity,
                    }
                ]
            },
            headers=OPERATOR,
        )
        assert made.status_code == 201, made.text
        slot_id: str = made.json()["items"][0]["id"]
        return slot_id

    @rule(
        target=bookings,
        customer=customers,
        slot=slots,
        method=st.sampled_from(["wallet", "gateway"]),
    )
    def book(self, customer: uuid.UUID, slot: str, method: str) -> Any:
        """Book by wallet (CONFIRMED, 402 or 409) or by gateway (AWAITING_PAYMENT or 409)."""
        payment: dict[str, str] = {"method": method}
        if method == "gateway":
            payment["provider"] = "sandbox"
        answer = self._call(
            self.api,
            "POST",
            "/v1/bookings",
            json={"slot_id": slot, "payment": payment},
            headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert answer.status_code in (201, 402, 409), answer.text
        Bookings.answers[method, answer.status_code] += 1
        if answer.status_code != 201:
            return multiple()
        booking = answer.json()
        expected = "CONFIRMED" if method == "wallet" else "AWAITING_PAYMENT"
        assert booking["status"] == expected
        self.made.append(booking["id"])
        return (booking["id"], customer, booking["payment"].get("order_id"))

    @rule(booking=bookings, outcome=st.sampled_from(["success", "success", "failure"]))
    def pay(self, booking: tuple[str, uuid.UUID, str | None], outcome: str) -> None:
        """The customer pays (or fails to) at the sandbox; a paid order refuses a second pay."""
        _, _, order = booking
        if order is None:
            return
        answer = self._call(
            self.gateway, "POST", f"/v1/orders/{order}/pay", json={"outcome": outcome}
        )
        assert answer.status_code in (200, 409), answer.text

    @rule(booking=bookings)
    def cancel(self, booking: tuple[str, uuid.UUID, str | None]) -> None:
        """The customer cancels: CANCELLED, or 409 when the booking already ended otherwise."""
        booking_id, customer, _ = booking
        answer = self._call(
            self.api, "POST", f"/v1/bookings/{booking_id}/cancel", json={}, headers=bearer(customer)
        )
        assert answer.status_code in (200, 409), answer.text
        if answer.status_code == 200:
            assert answer.json()["status"] == "CANCELLED"

    @rule(booking=bookings, slot=slots)
    def reschedule(self, booking: tuple[str, uuid.UUID, str | None], slot: str) -> None:
        """Move to another slot: 200, or a refusal that changes nothing."""
        booking_id, customer, _ = booking
        answer = self._call(
            self.api,
            "POST",
            f"/v1/bookings/{booking_id}/reschedule",
            json={"slot_id": slot},
            headers=bearer(customer),
        )
        assert answer.status_code in (200, 402, 409, 422), answer.text

    # ---- what holds after every step, and at the end ----------------------------------------

    @invariant()
    def money_and_seats_add_up(self) -> None:
        """The database invariants (wallets = ledgers, seats, holds, refunds <= payments)."""
        for breach, query in INVARIANTS.items():
            rows = asyncio.run(_fetch(self.dsn, query))
            assert rows == [], f"{breach}: {[dict(r) for r in rows]}"

    def teardown(self) -> None:
        """Once the workflows catch up: nothing half-held; a booking that failed kept nothing."""
        self.api.close()
        self.gateway.close()
        if not self.made:
            Bookings.finals.append(Counter())
            return
        ids = [uuid.UUID(b) for b in self.made]
        deadline = time.monotonic() + 90
        while True:
            rows = asyncio.run(_fetch(self.dsn, NET_TAKEN, ids))
            wrong = [
                dict(r)
                for r in rows
                if r["status"] == "HELD" or (r["status"] in TERMINAL and r["taken"] != 0)
            ]
            if not wrong:
                Bookings.finals.append(Counter(r["status"] for r in rows))
                return
            assert time.monotonic() < deadline, f"bookings that kept money or a hold: {wrong}"
            # Refunds of late payments run in other processes: poll until they land.
            time.sleep(0.5)


# What each booking has taken, net: wallet debits less refunds, captures less refunds.
NET_TAKEN = """
    SELECT b.id, b.status,
           COALESCE((SELECT -SUM(l.amount) FROM ledger_entries l WHERE l.booking_id = b.id), 0)
         + COALESCE((SELECT SUM(CASE WHEN g.kind = 'capture' THEN g.amount ELSE -g.amount END)
                       FROM gateway_transactions g WHERE g.booking_id = b.id), 0) AS taken
      FROM bookings b
     WHERE b.id = ANY($1::uuid[])
"""


def test_random_bookings_payments_cancels_and_moves_keep_every_invariant(
    stack: ProcessStack,
) -> None:
    """RUNS runs of up to STEPS steps each, from a fixed seed; every invariant after every step.

    The creates must mostly go through, by wallet and by gateway, and bookings must end
    CONFIRMED: a stack that refused every booking would otherwise keep every invariant.
    """
    Bookings.api_url = stack.url("api")
    Bookings.sandbox_url = stack.url("sandbox")
    Bookings.dsn = stack.engine_dsn
    Bookings.answers, Bookings.finals = Counter(), []
    run_state_machine_as_test(
        Bookings,
        settings=settings(
            max_examples=RUNS,
            stateful_step_count=STEPS,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    created = {method: Bookings.answers[method, 201] for method in ("wallet", "gateway")}
    tried = sum(Bookings.answers.values())
    confirmed = sum(run["CONFIRMED"] for run in Bookings.finals)
    print(
        f"state machine: {RUNS} runs, {Bookings.requests} requests, 0 failures;"
        f" {sum(created.values())} of {tried} creates went through, {confirmed} ended CONFIRMED"
    )
    # Every invariant holds vacuously if every create is refused: the creates must go through.
    assert min(created.values()) >= 1, f"a payment method never booked: {Bookings.answers}"
    assert 2 * sum(created.values()) >= tried, f"most creates refused: {Bookings.answers}"
    assert confirmed >= 1, f"no booking ended CONFIRMED: {Bookings.finals}"
