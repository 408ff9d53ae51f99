"""Each reconciliation job at scale: its duration and its peak memory, one job per process.

    python -m bench.reconcile_scale fill --pgdata DIR [--wallets N --entries N --bookings N ...]
    python -m bench.reconcile_scale run --pgdata DIR JOB [--page-size N] [--runs N]

``fill`` writes the rows straight into an embedded PostgreSQL (``DIR``, kept
between commands), set-based (``INSERT ... SELECT`` over ``generate_series``,
triggers off as a restore does, then each wallet's balance set to the sum of
its ledger): wallets with their ledger, bookings (most in the past, some
active and settled), idempotency keys of which a share has expired. ``run``
runs one job's activity in this process, as the worker would (heartbeats go
to a test environment), and prints one JSON line: the job, its result, its
wall time and the peak resident memory of the process (``ru_maxrss``). The
workflows jobs start a Temporal dev server of their own, with no workflows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import resource
import time
import uuid
from pathlib import Path
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import ActivityEnvironment

from activities.reconcile import ReconcileActivities
from core.db import create_engine, session_factory
from core.logging import configure_logging
from core.migrate import upgrade
from core.settings import Settings
from core.temporal import connect
from models.domain import ReconcileJob
from models.payloads import ReconcileInput
from models.search_attributes import BOOKING_STATUS
from stack.embedded import EmbeddedPostgres, TemporalDevServer, free_port

DATABASE = "reconcile_scale"

# Every wallet gets entries/wallets ledger rows: one credit of 1,000 in ten, debits of
# 100 otherwise, spread over the last 90 days (so a balance never goes below zero).
_FILL = [
    "SET session_replication_role = replica",
    "TRUNCATE wallets, ledger_entries, bookings, idempotency_records, alerts,"
    " reconcile_checkpoints CASCADE",
    """
    INSERT INTO wallets (customer_id, currency, balance)
    SELECT md5('wallet' || w)::uuid, 'INR', 0 FROM generate_series(0, :wallets - 1) w
    """,
    """
    INSERT INTO ledger_entries (customer_id, currency, amount, kind, idempotency_key, created_at)
    SELECT md5('wallet' || (g % :wallets))::uuid, 'INR',
           CASE WHEN (g / :wallets) % 10 = 0 THEN 1000 ELSE -100 END,
           CASE WHEN (g / :wallets) % 10 = 0 THEN 'credit' ELSE 'debit' END,
           'fill:' || g, now() - (g % 7776000) * interval '1 second'
    FROM generate_series(0, :entries - 1) g
    """,
    """
    UPDATE wallets w SET balance = l.total
    FROM (SELECT customer_id, currency, SUM(amount) AS total
          FROM ledger_entries GROUP BY customer_id, currency) l
    WHERE l.customer_id = w.customer_id AND l.currency = w.currency
    """,
    """
    INSERT INTO resources (id, name, timezone, meeting_provider, refund_policy)
    VALUES ('00000000-0000-0000-0000-00000000000f', 'Scale', 'UTC', 'jitsi', '{}')
    ON CONFLICT DO NOTHING
    """,
    # :active bookings are CONFIRMED and still to come (settled: written a day ago);
    # the rest ended in the past.
    """
    INSERT INTO bookings (id, customer_id, slot_id, resource_id, resource_seq, status, amount,
                          currency, payment_method, payment_status, captured_amount,
                          meeting_status, meeting_provider, workflow_id, exclusive,
                          starts_at, ends_at, blocked_until, created_at, updated_at)
    SELECT b.id, md5('wallet' || (b.g % :wallets))::uuid, gen_random_uuid(),
           '00000000-0000-0000-0000-00000000000f', 1,
           CASE WHEN b.g % 10 = 9 AND b.g >= :active THEN 'CANCELLED' ELSE 'CONFIRMED' END,
           100, 'INR', 'wallet',
           'CAPTURED', 100, 'READY', 'jitsi', 'booking-' || b.id, false,
           b.starts, b.starts + interval '1 hour', b.starts + interval '1 hour',
           now() - interval '1 day',
           now() - interval '1 day'
    FROM (
        SELECT g, md5('booking' || g)::uuid AS id,
               CASE WHEN g < :active THEN now() + interval '2 days' + g * interval '1 minute'
                    ELSE now() - interval '1 day' - g * interval '1 second' END AS starts
        FROM generate_series(0, :bookings - 1) g
    ) b
    """,
    # Keys of a day at the peak rate have expired; as many are live.
    """
    INSERT INTO idempotency_records (principal, scope, key, request_hash, target_id,
                                     created_at, expires_at)
    SELECT 'customer:' || (g % :wallets), 'booking', 'key-' || g, 'x', gen_random_uuid(),
           now() - interval '8 days',
           CASE WHEN g < CAST(:expired AS bigint)
                THEN now() - interval '1 hour' - g * interval '1 millisecond'
                ELSE now() + interval '6 days' END
    FROM generate_series(0, CAST(:expired AS bigint) + CAST(:live AS bigint) - 1) g
    """,
    "ANALYZE",
]


def _database(pgdata: Path) -> str:
    postgres = EmbeddedPostgres(pgdata)
    postgres.start()
    url = postgres.url(DATABASE)
    upgrade(url)
    return url


async def fill(url: str, sizes: dict[str, int]) -> None:
    """Write the rows of ``sizes`` (the wallets' ledger balanced), printing each step's time."""
    # No statement timeout: a fill's statement runs for minutes.
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        for statement in _FILL:
            started = time.perf_counter()
            query = text(statement)
            wanted = {k: v for k, v in sizes.items() if f":{k}" in statement}
            await connection.execute(query, wanted)
            await connection.commit()
            print(f"{time.perf_counter() - started:7.1f} s  {' '.join(statement.split())[:70]}")
    await engine.dispose()


async def _booking_workflows(temporal: Client, running: int, terminated: int) -> None:
    """Start the workflows of the first ``running`` active bookings; terminate ``terminated``.

    Each is a workflow of the booking workflow's type that says CONFIRMED in its search
    attribute and is never run (no worker polls its queue): to visibility, the running
    workflow of its booking, as the workflows jobs read it.
    """
    said = TypedSearchAttributes([SearchAttributePair(BOOKING_STATUS, "CONFIRMED")])
    ids = [
        # The fill's booking ids: md5('booking' || g) as a uuid (an id, not a secret).
        f"booking-{uuid.UUID(hashlib.md5(f'booking{g}'.encode()).hexdigest())}"  # noqa: S324
        for g in range(running)
    ]
    gate = asyncio.Semaphore(32)

    async def start(workflow_id: str) -> None:
        async with gate:
            await temporal.start_workflow(
                "BookingWorkflow",
                id=workflow_id,
                task_queue="reconcile-scale-nobody",
                search_attributes=said,
            )

    await asyncio.gather(*(start(w) for w in ids))
    for workflow_id in ids[:terminated]:
        await temporal.get_workflow_handle(workflow_id).terminate("reconcile scale")
    # Visibility is eventually consistent: wait until it lists every start.
    query = 'WorkflowType="BookingWorkflow"'
    while (await temporal.count_workflows(query)).count < running:  # noqa: ASYNC110
        await asyncio.sleep(0.5)


async def run(
    url: str,
    job: ReconcileJob,
    sizes: tuple[int, int],
    runs: int,
    running: int,
    terminated: int,
) -> None:
    """Run ``job`` ``runs`` times in this process; print a JSON line per run."""
    settings = Settings(env="test", database_url=url, log_level="WARNING")
    configure_logging(settings)
    engine = create_engine(settings)
    server = None
    temporal = cast(Client, None)
    if job in (ReconcileJob.WORKFLOWS, ReconcileJob.CLOSED_WORKFLOWS):
        server = TemporalDevServer(port=free_port(), ui_port=None, db_file=None)
        await server.start()
        settings = settings.model_copy(update={"temporal_address": server.address})
        temporal = await connect(settings)
        await _booking_workflows(temporal, running, terminated)
    jobs = ReconcileActivities(session_factory(engine), temporal, {})
    activity: Any = {
        ReconcileJob.LEDGER: jobs.reconcile_ledger,
        ReconcileJob.LEDGER_FULL: jobs.reconcile_ledger_full,
        ReconcileJob.WORKFLOWS: jobs.reconcile_workflows,
        ReconcileJob.CLOSED_WORKFLOWS: jobs.reconcile_closed_workflows,
        ReconcileJob.PURGE: jobs.purge_expired,
    }[job]
    page_size, full_page_size = sizes
    request = ReconcileInput(job=job, page_size=page_size, full_page_size=full_page_size)
    try:
        for _ in range(runs):
            beats: list[Any] = []
            environment = ActivityEnvironment()
            environment.on_heartbeat = beats.append
            started = time.perf_counter()
            result = await environment.run(activity, request)
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            line = {
                "job": job.value,
                "seconds": round(seconds, 1),
                "peak_rss_mib": peak,
                "checked": result.checked,
                "findings": len(result.findings),
                "heartbeats": len(beats),
            }
            print(json.dumps(line), flush=True)
    finally:
        await engine.dispose()
        if server is not None:
            server.stop()


def main() -> None:
    """Parse the command line and fill or run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fill", "run"])
    parser.add_argument("job", nargs="?", choices=[j.value for j in ReconcileJob])
    parser.add_argument("--pgdata", type=Path, required=True)
    parser.add_argument("--wallets", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--active", type=int, default=10_000)
    # A day at the bench's peak (36 bookings a second, one key each) has expired.
    parser.add_argument("--expired", type=int, default=3_100_000)
    parser.add_argument("--live", type=int, default=3_100_000)
    parser.add_argument("--page-size", type=int, default=1_000)
    parser.add_argument("--full-page-size", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1)
    # The workflows jobs: how many active bookings have their (stand-in) workflow, and
    # how many of those were terminated.
    parser.add_argument("--running", type=int, default=0)
    parser.add_argument("--terminated", type=int, default=0)
    args = parser.parse_args()
    url = _database(args.pgdata)
    if args.command == "fill":
        sizes = {k: getattr(args, k) for k in ("wallets", "entries", "bookings", "active")}
        sizes |= {"expired": args.expired, "live": args.live}
        asyncio.run(fill(url, sizes))
    else:
        job = ReconcileJob(args.job)
        pages = (args.page_size, args.full_page_size)
        asyncio.run(run(url, job, pages, args.runs, args.running, args.terminated))


if __name__ == "__main__":
    main()
