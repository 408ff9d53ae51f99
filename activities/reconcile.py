"""Reconciliation: the books against themselves, against Temporal and against the gateways.

Each job reads, compares and opens an alert per finding (one open alert per
kind and subject, so a finding seen again counts on the open one). Nothing
here corrects money: a person decides, with the alert's details in hand.
What changed within the job's grace period is still settling and is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import cast

import structlog
from sqlalchemy import CursorResult, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from core.db import SessionFactory
from core.formatting import money
from core.metrics import gateway_timer
from integrations.gateways.base import GatewayError, GatewayRecord, PaymentGateway
from models.db import Booking, GatewayTransaction, IdempotencyRecord
from models.domain import ACTIVE_STATUSES, AttentionKind, GatewayTransactionKind
from models.ops_calls import RECOVER
from models.payloads.reconcile import ReconcileFailedInput, ReconcileInput, ReconcileResult
from models.search_attributes import BOOKING_STATUS
from store import alerts

log = structlog.get_logger(__name__)

# A run reports at most this many findings in its result (every one has its alert).
REPORTED = 50

_BALANCES = text(
    """
    SELECT COALESCE(w.customer_id, l.customer_id) AS customer_id,
           COALESCE(w.currency, l.currency) AS currency,
           COALESCE(w.balance, 0) AS balance,
           COALESCE(l.total, 0) AS ledger
    FROM wallets w
    FULL OUTER JOIN (
        SELECT customer_id, currency, SUM(amount) AS total
        FROM ledger_entries GROUP BY customer_id, currency
    ) l ON l.customer_id = w.customer_id AND l.currency = w.currency
    WHERE COALESCE(w.balance, 0) <> COALESCE(l.total, 0)
    """
)
_CREDITS = text(
    """
    SELECT customer_id, currency, SUM(amount) AS credited
    FROM ledger_entries
    WHERE kind IN ('credit', 'topup') AND created_at >= now() - interval '24 hours'
    GROUP BY customer_id, currency
    HAVING SUM(amount) > :threshold
    """
)


class Findings:
    """What one run found: each opens (or counts on) an alert; the first few are reported."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.found: list[str] = []

    async def add(
        self,
        kind: AttentionKind,
        subject: str,
        details: str,
        booking_id: uuid.UUID | None = None,
    ) -> None:
        """Open the ``kind`` alert about ``subject`` (or count one more occurrence)."""
        await alerts.open_alert(self._session, kind, subject, details, booking_id=booking_id)
        self.found.append(f"{kind}: {details}")

    def result(self, request: ReconcileInput, checked: int) -> ReconcileResult:
        """The run's result (the first :data:`REPORTED` findings in words)."""
        log.info("reconcile.done", job=request.job, checked=checked, findings=len(self.found))
        return ReconcileResult(job=request.job, checked=checked, findings=self.found[:REPORTED])


class ReconcileActivities:
    """The reconciliation jobs; each returns what it checked and found."""

    def __init__(
        self,
        sessions: SessionFactory,
        temporal: Client,
        gateways: Mapping[str, PaymentGateway],
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal
        self._gateways = gateways

    @activity.defn(name="reconcile_ledger")
    async def reconcile_ledger(self, request: ReconcileInput) -> ReconcileResult:
        """Each wallet's balance against the sum of its ledger; credits that spike in a day."""
        async with self._sessions() as session:
            findings = Findings(session)
            for row in (await session.execute(_BALANCES)).all():
                balance, ledger = int(row.balance), int(row.ledger)
                await findings.add(
                    AttentionKind.BALANCE_MISMATCH,
                    f"wallet:{row.customer_id}:{row.currency}",
                    f"wallet {row.customer_id} {row.currency}: balance {balance} but the "
                    f"ledger sums to {ledger} (difference {balance - ledger}, "
                    f"{money(balance - ledger, row.currency)})",
                )
            spikes = await session.execute(_CREDITS, {"threshold": request.credit_spike_amount})
            day = datetime.now(UTC).date().isoformat()
            for row in spikes.all():
                await findings.add(
                    AttentionKind.CREDIT_SPIKE,
                    f"credits:{row.customer_id}:{row.currency}:{day}",
                    f"wallet {row.customer_id} was credited {int(row.credited)} {row.currency} "
                    f"({money(int(row.credited), row.currency)}) in 24 hours "
                    f"(threshold {request.credit_spike_amount})",
                )
            checked = await session.scalar(text("SELECT count(*) FROM wallets")) or 0
            await session.commit()
        return findings.result(request, checked)

    @activity.defn(name="reconcile_workflows")
    async def reconcile_workflows(self, request: ReconcileInput) -> ReconcileResult:
        """Each active booking has a running workflow whose status matches, and the reverse."""
        now = datetime.now(UTC)
        settled_before = now - timedelta(seconds=request.grace_seconds)
        running: dict[str, tuple[str | None, datetime]] = {}
        query = 'WorkflowType="BookingWorkflow" AND ExecutionStatus="Running"'
        async for execution in self._temporal.list_workflows(query):
            status = execution.typed_search_attributes.get(BOOKING_STATUS)
            running[execution.id] = (status, execution.start_time)
        async with self._sessions() as session:
            findings = Findings(session)
            rows = (
                await session.execute(
                    select(Booking.id, Booking.status, Booking.workflow_id, Booking.updated_at)
                    .where(Booking.status.in_([s.value for s in ACTIVE_STATUSES]))
                    # A confirmed booking's workflow closes when its time has passed.
                    .where(Booking.ends_at > now)
                )
            ).all()
            for row in rows:
                if row.updated_at >= settled_before:
                    continue
                seen = running.get(row.workflow_id)
                if seen is None:
                    await findings.add(
                        AttentionKind.WORKFLOW_MISSING,
                        str(row.id),
                        f"booking {row.id} is {row.status} but workflow {row.workflow_id} "
                        "is not running",
                        row.id,
                    )
                elif seen[0] != row.status:
                    await findings.add(
                        AttentionKind.STATUS_MISMATCH,
                        str(row.id),
                        f"booking {row.id} is {row.status} in the database but its workflow "
                        f"says {seen[0]}",
                        row.id,
                    )
            await self._running_without_active_booking(session, findings, running, settled_before)
            await session.commit()
        return findings.result(request, len(rows) + len(running))

    @activity.defn(name="reconcile_closed_workflows")
    async def reconcile_closed_workflows(self, request: ReconcileInput) -> ReconcileResult:
        """Booking workflows that closed without finishing their booking: WORKFLOW_MISSING.

        A booking workflow completes only once its booking has ended, so one
        that was terminated (or failed, or timed out) while its row is still
        active has left the booking with nobody to finish it. No grace period:
        a closed workflow does not settle. Runs every minute over the closes
        of the last hour; the alert is one per booking.
        """
        since = datetime.now(UTC) - timedelta(hours=1)
        query = (
            'WorkflowType="BookingWorkflow" AND ExecutionStatus!="Running" '
            f'AND ExecutionStatus!="Completed" AND CloseTime>"{since.isoformat()}"'
        )
        closed: dict[str, tuple[str, datetime | None]] = {}
        async for execution in self._temporal.list_workflows(query):
            closed[execution.id] = (
                execution.status.name if execution.status else "?",
                execution.close_time,
            )
        async with self._sessions() as session:
            findings = Findings(session)
            rows = (
                (
                    await session.execute(
                        select(Booking.id, Booking.status, Booking.workflow_id).where(
                            Booking.workflow_id.in_(list(closed)),
                            Booking.status.in_([s.value for s in ACTIVE_STATUSES]),
                        )
                    )
                ).all()
                if closed
                else []
            )
            for row in rows:
                how, when = closed[row.workflow_id]
                at = f" at {when:%Y-%m-%d %H:%M:%S} UTC" if when else ""
                await findings.add(
                    AttentionKind.WORKFLOW_MISSING,
                    str(row.id),
                    f"booking {row.id} is {row.status} but its workflow {row.workflow_id} was "
                    f"{how.lower()}{at}; {RECOVER.words(row.id)} finishes it",
                    row.id,
                )
            await session.commit()
        return findings.result(request, len(closed))

    @staticmethod
    async def _running_without_active_booking(
        session: AsyncSession,
        findings: Findings,
        running: dict[str, tuple[str | None, datetime]],
        settled_before: datetime,
    ) -> None:
        """A running workflow that says its booking is active while the row says otherwise."""
        active = {s.value for s in ACTIVE_STATUSES}
        claimed = {
            workflow_id
            for workflow_id, (status, started) in running.items()
            if status in active and started < settled_before
        }
        if not claimed:
            return
        rows = {
            row.workflow_id: row
            for row in (
                await session.execute(
                    select(
                        Booking.id, Booking.status, Booking.workflow_id, Booking.updated_at
                    ).where(Booking.workflow_id.in_(claimed))
                )
            ).all()
        }
        for workflow_id in sorted(claimed):
            row = rows.get(workflow_id)
            if row is not None and (row.status in active or row.updated_at >= settled_before):
                continue
            says = running[workflow_id][0]
            if row is None:
                await findings.add(
                    AttentionKind.STATUS_MISMATCH,
                    f"workflow:{workflow_id}",
                    f"workflow {workflow_id} says {says} but no booking row exists",
                )
            else:
                await findings.add(
                    AttentionKind.STATUS_MISMATCH,
                    str(row.id),
                    f"booking {row.id} is {row.status} in the database but its running "
                    f"workflow says {says}",
                    row.id,
                )

    @activity.defn(name="reconcile_gateways")
    async def reconcile_gateways(self, request: ReconcileInput) -> ReconcileResult:
        """Each gateway's captures and refunds against ``gateway_transactions``, both ways.

        Raises:
            ApplicationError: A gateway could not be listed (retried when the gateway
                may answer later; then the job fails and its alert opens).
        """
        now = datetime.now(UTC)
        since = now - timedelta(hours=request.lookback_hours)
        settled_before = now - timedelta(seconds=request.grace_seconds)
        listed: dict[str, list[GatewayRecord]] = {}
        for provider, gateway in sorted(self._gateways.items()):
            try:
                with gateway_timer(provider, "list_transactions"):
                    records = await gateway.list_transactions(since)
            except GatewayError as exc:
                raise ApplicationError(
                    f"{provider}: {exc}",
                    type="GATEWAY_UNAVAILABLE",
                    non_retryable=not exc.retryable,
                ) from None
            if records is not None:  # None: the gateway has no list to compare with
                listed[provider] = records
        async with self._sessions() as session:
            findings = Findings(session)
            checked = 0
            for provider, records in listed.items():
                checked += await _compare(
                    session, findings, provider, records, since, settled_before
                )
            await session.commit()
        return findings.result(request, checked)

    @activity.defn(name="purge_expired")
    async def purge_expired(self, request: ReconcileInput) -> ReconcileResult:
        """Delete idempotency keys past their TTL, and rate-limit windows that have ended."""
        async with self._sessions() as session:
            keys = cast(
                CursorResult[tuple[()]],
                await session.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < text("now()"))
                ),
            )
            windows = cast(
                CursorResult[tuple[()]],
                await session.execute(
                    text("DELETE FROM rate_limit_counters WHERE expires_at < now()")
                ),
            )
            await session.commit()
        log.info("reconcile.purged", keys=keys.rowcount, windows=windows.rowcount)
        return ReconcileResult(job=request.job, checked=keys.rowcount + windows.rowcount)

    @activity.defn(name="reconcile_failed")
    async def reconcile_failed(self, request: ReconcileFailedInput) -> None:
        """Open the job's RECONCILIATION_FAILED alert, or settle it once the job runs again."""
        subject = f"job:{request.job}"
        async with self._sessions() as session:
            if request.error is None:
                await alerts.resolve_subject(
                    session, AttentionKind.RECONCILIATION_FAILED, subject, "the job ran again"
                )
            else:
                await alerts.open_alert(
                    session,
                    AttentionKind.RECONCILIATION_FAILED,
                    subject,
                    f"the {request.job} reconciliation failed: {request.error}",
                )
            await session.commit()


async def _compare(
    session: AsyncSession,
    findings: Findings,
    provider: str,
    records: list[GatewayRecord],
    since: datetime,
    settled_before: datetime,
) -> int:
    """Compare one gateway's list with its rows; returns how many records and rows were checked."""
    rows = (
        await session.scalars(
            select(GatewayTransaction).where(
                GatewayTransaction.provider == provider,
                GatewayTransaction.created_at >= since - timedelta(hours=1),
            )
        )
    ).all()
    captures = {r.payment_id: r for r in rows if r.kind == GatewayTransactionKind.CAPTURE}
    refunds = [r for r in rows if r.kind == GatewayTransactionKind.REFUND and r.status != "FAILED"]
    matched: set[int] = set()
    for record in records:
        if record.created_at >= settled_before:
            continue
        if record.kind == "capture":
            row = captures.get(record.payment_id)
            if row is None:
                await findings.add(
                    AttentionKind.GATEWAY_MISMATCH,
                    f"{provider}:capture:{record.id}",
                    f"{provider} captured {record.amount} {record.currency} as payment "
                    f"{record.id} (order {record.order_id}) that the engine has no record of",
                )
            elif (row.amount, row.currency) != (record.amount, record.currency):
                await findings.add(
                    AttentionKind.GATEWAY_MISMATCH,
                    f"{provider}:capture:{record.id}",
                    f"{provider} payment {record.id}: {record.amount} {record.currency} at the "
                    f"gateway, {row.amount} {row.currency} in the engine's books",
                    row.booking_id,
                )
            if row is not None:
                matched.add(row.id)
            continue
        row = _refund_row(refunds, record, matched)
        if row is None:
            await findings.add(
                AttentionKind.GATEWAY_MISMATCH,
                f"{provider}:refund:{record.id}",
                f"{provider} refunded {record.amount} {record.currency} of payment "
                f"{record.payment_id} as {record.id}, which the engine has no record of",
            )
        else:
            matched.add(row.id)
    for row in rows:
        if row.id in matched or row.created_at >= settled_before or row.created_at < since:
            continue
        if row.kind == GatewayTransactionKind.REFUND and row.status == "FAILED":
            continue
        await findings.add(
            AttentionKind.GATEWAY_MISMATCH,
            f"{provider}:{row.kind}:{row.external_id or row.payment_id}",
            f"the engine records a {row.kind} of {row.amount} {row.currency} for payment "
            f"{row.payment_id} ({row.status}) that {provider} does not list",
            row.booking_id,
        )
    return len(records) + len(rows)


def _refund_row(
    refunds: list[GatewayTransaction], record: GatewayRecord, matched: set[int]
) -> GatewayTransaction | None:
    """The engine's row of a listed refund: by the gateway's id, else one still without an id.

    A refund whose answer was lost has no id yet: it matches by payment and amount.
    """
    by_id = next((r for r in refunds if r.external_id == record.id), None)
    if by_id is not None:
        return by_id
    return next(
        (
            r
            for r in refunds
            if r.external_id is None
            and r.id not in matched
            and r.payment_id == record.payment_id
            and r.amount == record.amount
        ),
        None,
    )
