"""The wallet decision's own CPU: ``decide_wallet`` called in a loop, in this process.

    python -m bench.decision [--bookings 200] [--rounds 3]

No Temporal and no HTTP: an embedded PostgreSQL (migrated), the real
activities, one funded customer and a fresh slot per call, on a Jitsi
resource (the link is made in the decision) and without a contact (the
confirmation is recorded as skipped, as in ``make bench``). Prints the CPU
and wall time per decision of each round; PostgreSQL's own CPU is not in the
CPU figure. For comparing commits of the decision's code, run alternately.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.decision import DecisionActivities
from activities.notifications import NotificationActivities
from activities.slots import SlotActivities
from activities.wallet import WalletActivities
from core.db import create_engine, session_factory
from core.logging import configure_logging
from core.migrate import upgrade
from core.settings import Settings
from integrations.meetings import JitsiProvider
from models.db import Resource, Slot
from models.payloads import HoldSlotInput, PaymentSpec
from stack.embedded import EmbeddedPostgres
from store.ledger import append_ledger_entry

WARM_UP = 20


async def measure(url: str, bookings: int, rounds: int) -> None:
    """Time ``rounds`` rounds of ``bookings`` decisions each, after a warm-up."""
    # Warnings only, as the bench's stack runs the worker.
    settings = Settings(env="test", database_url=url, log_level="WARNING")
    configure_logging(settings)
    engine = create_engine(settings)
    sessions = session_factory(engine)
    decision = DecisionActivities(
        SlotActivities(sessions),
        WalletActivities(sessions),
        {"jitsi": JitsiProvider("https://meet.example", b"bench-meeting-key-of-32-bytes!!")},
        NotificationActivities(sessions, settings),
    )
    customer = uuid.uuid4()
    resource = Resource(
        id=uuid.uuid4(), name="Bench", timezone="UTC", meeting_provider="jitsi", refund_policy={}
    )
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    total = WARM_UP + bookings * rounds
    slots = [
        Slot(
            id=uuid.uuid4(),
            resource_id=resource.id,
            starts_at=start + timedelta(hours=i),
            ends_at=start + timedelta(hours=i, minutes=30),
            price_amount=1_000,
            currency="INR",
            capacity=1,
            active_count=0,
        )
        for i in range(total)
    ]
    async with sessions() as session:
        session.add(resource)
        await session.flush()
        session.add_all(slots)
        await append_ledger_entry(
            session,
            customer_id=customer,
            currency="INR",
            amount=1_000 * total,
            kind="credit",
            idempotency_key=f"bench-credit:{customer}",
        )
        await session.commit()
    requests = [
        HoldSlotInput(
            booking_id=(booking := uuid.uuid4()),
            customer_id=customer,
            slot_id=slot.id,
            workflow_id=f"booking-{booking}",
            payment=PaymentSpec(method="wallet"),
            max_active_holds=total,
        )
        for slot in slots
    ]
    env = ActivityEnvironment()
    for request in requests[:WARM_UP]:
        await env.run(decision.decide_wallet, request)
    for rnd in range(rounds):
        batch = requests[WARM_UP + rnd * bookings : WARM_UP + (rnd + 1) * bookings]
        cpu, wall = time.process_time(), time.perf_counter()
        for request in batch:
            await env.run(decision.decide_wallet, request)
        cpu_ms = (time.process_time() - cpu) * 1000 / len(batch)
        wall_ms = (time.perf_counter() - wall) * 1000 / len(batch)
        print(f"round {rnd + 1}: {cpu_ms:.2f} ms CPU, {wall_ms:.2f} ms wall per decision")
    await engine.dispose()


def main() -> None:
    """Start PostgreSQL, migrate, measure, stop."""
    parser = argparse.ArgumentParser(prog="bench.decision", description=__doc__)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="booking-decision-"))
    workdir.chmod(0o755)
    postgres = EmbeddedPostgres(workdir / "pg")
    try:
        postgres.start()
        url = postgres.url("bench_decision")
        upgrade(url)
        asyncio.run(measure(url, args.bookings, args.rounds))
    finally:
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
