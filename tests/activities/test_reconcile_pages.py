"""Reconciliation at scale: the ledger job's checkpoint, pages across their boundaries, the purge.

Run as the schedules run them (the reconcile workflow on the engine's worker,
real PostgreSQL), with pages of a few rows so that every boundary is crossed.
Every discrepancy planted here is taken back before the test ends.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.reconcile import ReconcileActivities
from core.db import SessionFactory
from core.settings import Settings
from models.db import Alert, IdempotencyRecord
from models.domain import AttentionKind, ReconcileJob
from models.payloads import ReconcileInput, ReconcileResult
from store import alerts, checkpoints
from store.ledger import append_ledger_entry
from workflows.reconcile import ReconcileWorkflow

_NUDGE = text("UPDATE wallets SET balance = balance + :by WHERE customer_id = :c")


async def _run(
    temporal: Client, settings: Settings, job: ReconcileJob, **bounds: int
) -> ReconcileResult:
    return await temporal.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(job=job, grace_seconds=0, **bounds),
        id=f"test-reconcile-{job}-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def _wallets(sessions: SessionFactory, count: int) -> list[uuid.UUID]:
    """``count`` new wallets of 100 INR each, credited through the ledger."""
    customers = [uuid.uuid4() for _ in range(count)]
    async with sessions() as session:
        for customer in customers:
            await append_ledger_entry(
                session,
                customer_id=customer,
                currency="INR",
                amount=100,
                kind="credit",
                idempotency_key=f"{customer}:test-credit",
            )
        await session.commit()
    return customers


async def _nudge(sessions: SessionFactory, customers: list[uuid.UUID], by: int) -> None:
    async with sessions() as session:
        for customer in customers:
            await session.execute(_NUDGE, {"c": customer, "by": by})
        await session.commit()


@asynccontextmanager
async def _nudged(sessions: SessionFactory, customers: list[uuid.UUID]) -> AsyncIterator[None]:
    """Each wallet's balance 7 above its ledger, until the block ends."""
    await _nudge(sessions, customers, 7)
    try:
        yield
    finally:
        await _nudge(sessions, customers, -7)


async def _mismatched(sessions: SessionFactory, customers: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``customers`` have an open BALANCE_MISMATCH."""
    subjects = {f"wallet:{c}:INR": c for c in customers}
    async with sessions() as session:
        found = await session.scalars(
            select(Alert.subject).where(
                Alert.kind == "BALANCE_MISMATCH",
                Alert.subject.in_(list(subjects)),
                Alert.resolved_at.is_(None),
            )
        )
        return {subjects[s] for s in found}


async def _resolve(sessions: SessionFactory, customers: list[uuid.UUID]) -> None:
    async with sessions() as session:
        for customer in customers:
            await alerts.resolve_subject(
                session, AttentionKind.BALANCE_MISMATCH, f"wallet:{customer}:INR", "test: judged"
            )
        await session.commit()


async def _count(sessions: SessionFactory, table: str) -> int:
    async with sessions() as session:
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


async def test_incremental_ledger_finds_mismatches_planted_before_and_after_its_checkpoint(
    sessions: SessionFactory, temporal: Client, settings: Settings, engine_worker: Worker
) -> None:
    """Planted before the checkpoint: found by the run that sets it; after: by the next.

    The next run reads only the wallets written since (fewer than all), in pages of two.
    """
    before, after = await _wallets(sessions, 3), await _wallets(sessions, 3)
    async with _nudged(sessions, before):
        await _run(temporal, settings, ReconcileJob.LEDGER, page_size=2)
        found_before = await _mismatched(sessions, before)
        async with _nudged(sessions, after):
            result = await _run(temporal, settings, ReconcileJob.LEDGER, page_size=2)
            found_after = await _mismatched(sessions, after)
    await _resolve(sessions, before + after)

    assert found_before == set(before)
    assert found_after == set(after)
    assert 3 <= result.checked < await _count(sessions, "wallets")


async def test_a_mismatch_committed_late_is_found_by_the_next_incremental_run(
    sessions: SessionFactory, temporal: Client, settings: Settings, engine_worker: Worker
) -> None:
    """A nudge committed after a run that could not see it is judged by the next run.

    Its transaction appends a ledger row (the lower id) and nudges the wallet; it stays
    open while a later ledger row commits and a run finishes, then commits.
    """
    (late,), (early,) = await _wallets(sessions, 1), await _wallets(sessions, 1)
    async with sessions() as open_transaction:
        await append_ledger_entry(
            open_transaction,
            customer_id=late,
            currency="INR",
            amount=50,
            kind="credit",
            idempotency_key=f"{late}:late-credit",
        )
        await open_transaction.execute(_NUDGE, {"c": late, "by": 7})
        async with sessions() as session:
            await append_ledger_entry(
                session,
                customer_id=early,
                currency="INR",
                amount=50,
                kind="credit",
                idempotency_key=f"{early}:later-id-committed-first",
            )
            await session.commit()
        await _run(temporal, settings, ReconcileJob.LEDGER)
        seen_while_open = await _mismatched(sessions, [late])
        await open_transaction.commit()
    try:
        await _run(temporal, settings, ReconcileJob.LEDGER)
        seen_after_commit = await _mismatched(sessions, [late])
    finally:
        await _nudge(sessions, [late], -7)
    await _resolve(sessions, [late])

    assert seen_while_open == set()
    assert seen_after_commit == {late}


async def test_the_full_pass_finds_a_ledger_row_written_behind_the_triggers_back(
    sessions: SessionFactory, temporal: Client, settings: Settings, engine_worker: Worker
) -> None:
    """A ledger row inserted with triggers off: the full pass finds it, the incremental not.

    Such a row leaves its wallet unwritten, which is all the incremental run looks at;
    the daily full pass (pages of three) judges every wallet.
    """
    (customer,) = await _wallets(sessions, 1)
    await _run(temporal, settings, ReconcileJob.LEDGER)
    behind = text(
        "INSERT INTO ledger_entries (customer_id, currency, amount, kind, idempotency_key) "
        "VALUES (:c, 'INR', 9, 'credit', :key)"
    )
    key = f"{customer}:behind-the-trigger"
    async with sessions() as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(behind, {"c": customer, "key": key})
        await session.commit()
    try:
        await _run(temporal, settings, ReconcileJob.LEDGER)
        incremental = await _mismatched(sessions, [customer])
        full = await _run(temporal, settings, ReconcileJob.LEDGER_FULL, full_page_size=3)
        found = await _mismatched(sessions, [customer])
    finally:
        async with sessions() as session:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
            await session.execute(
                text("DELETE FROM ledger_entries WHERE idempotency_key = :key"), {"key": key}
            )
            await session.commit()
    await _resolve(sessions, [customer])

    assert incremental == set()
    assert found == {customer}
    assert full.checked == await _count(sessions, "wallets")


async def test_the_full_pass_judges_every_wallet_across_page_boundaries(
    sessions: SessionFactory, temporal: Client, settings: Settings, engine_worker: Worker
) -> None:
    """Seven nudged wallets, pages of two: every one is found, every wallet is counted once."""
    customers = await _wallets(sessions, 7)
    async with _nudged(sessions, customers):
        result = await _run(temporal, settings, ReconcileJob.LEDGER_FULL, full_page_size=2)
        found = await _mismatched(sessions, customers)
    await _resolve(sessions, customers)

    assert found == set(customers)
    assert result.checked == await _count(sessions, "wallets")


async def test_purge_deletes_exactly_the_expired_keys_across_batches(
    sessions: SessionFactory, temporal: Client, settings: Settings, engine_worker: Worker
) -> None:
    """25 expired keys and 5 live ones, batches of 4: the 25 go, the 5 stay."""
    principal = f"purge-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    async with sessions() as session:
        for n in range(30):
            session.add(
                IdempotencyRecord(
                    principal=principal,
                    scope="test",
                    key=f"{'old' if n < 25 else 'new'}-{n}",
                    request_hash="x",
                    target_id=uuid.uuid4(),
                    expires_at=now + (timedelta(minutes=-n - 1) if n < 25 else timedelta(days=7)),
                )
            )
        await session.commit()

    result = await _run(temporal, settings, ReconcileJob.PURGE, purge_batch=4)

    async with sessions() as session:
        left = set(
            await session.scalars(
                select(IdempotencyRecord.key).where(IdempotencyRecord.principal == principal)
            )
        )
        expired = await session.scalar(
            select(IdempotencyRecord.key).where(IdempotencyRecord.expires_at < now).limit(1)
        )
    assert left == {f"new-{n}" for n in range(25, 30)}
    assert expired is None
    assert result.checked >= 25


async def test_a_retried_attempt_resumes_after_the_last_page_its_heartbeat_recorded(
    sessions: SessionFactory, temporal: Client
) -> None:
    """An attempt given a heartbeat's state judges only the wallets after the key it names."""
    await _wallets(sessions, 4)
    async with sessions() as session:
        middle = (
            await session.execute(
                text(
                    "SELECT customer_id, currency FROM wallets ORDER BY customer_id, currency "
                    "OFFSET (SELECT count(*) / 2 FROM wallets) LIMIT 1"
                )
            )
        ).one()
        after = await session.scalar(
            text("SELECT count(*) FROM wallets WHERE (customer_id, currency) > (:c, :cur)"),
            {"c": middle.customer_id, "cur": middle.currency},
        )
        horizon = await checkpoints.horizon_now(session)
    state = {
        "after": [str(middle.customer_id), middle.currency],
        "since": None,
        "horizon": horizon,
        "checked": 0,
    }
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, heartbeat_details=[state])
    beats: list[dict[str, object]] = []
    environment.on_heartbeat = beats.append
    jobs = ReconcileActivities(sessions, temporal, {})

    result = await environment.run(
        jobs.reconcile_ledger_full, ReconcileInput(job=ReconcileJob.LEDGER_FULL, full_page_size=2)
    )

    assert result.checked == after
    assert 0 < after < await _count(sessions, "wallets")
    assert len(beats) == after // 2 + 1
