"""Reconciliation: the books against themselves, against Temporal and against the gateways.

Each job reads, compares and opens an alert per finding (one open alert per
kind and subject, so a finding seen again counts on the open one). Nothing
here corrects money: a person decides, with the alert's details in hand.
What changed within the job's grace period is still settling and is skipped.

Every job reads in pages of ``page_size`` with a heartbeat per page
(``activities.reconcile_pages``); the ledger job is incremental from a
checkpoint (``activities.reconcile_ledger``), with a full pass of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client, WorkflowExecution
from temporalio.exceptions import ApplicationError

from activities import reconcile_gateways, reconcile_ledger, reconcile_purge
from activities.reconcile_pages import Findings, beat, resumed, workflow_pages
from core.db import SessionFactory
from core.metrics import gateway_timer
from integrations.gateways.base import GatewayError, GatewayRecord, PaymentGateway
from models.db import Booking
from models.domain import ACTIVE_STATUSES, AttentionKind
from models.ops_calls import RECOVER
from models.payloads.reconcile import ReconcileFailedInput, ReconcileInput, ReconcileResult
from models.search_attributes import BOOKING_STATUS
from store import alerts

log = structlog.get_logger(__name__)

_ACTIVE = [s.value for s in ACTIVE_STATUSES]
_FIRST_ID = "00000000-0000-0000-0000-000000000000"


def _ids(workflow_ids: Sequence[str]) -> str:
    """A visibility ``IN`` list (workflow ids are ours: no quotes inside)."""
    return ", ".join(f'"{w}"' for w in workflow_ids)


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
        """The wallets written since the checkpoint: balance against ledger; credit spikes."""
        findings, checked = await reconcile_ledger.reconcile_ledger(
            self._sessions, request, full=False
        )
        return findings.result(request, checked)

    @activity.defn(name="reconcile_ledger_full")
    async def reconcile_ledger_full(self, request: ReconcileInput) -> ReconcileResult:
        """Every wallet's balance against the sum of its ledger, and ledger rows without one."""
        findings, checked = await reconcile_ledger.reconcile_ledger(
            self._sessions, request, full=True
        )
        return findings.result(request, checked)

    @activity.defn(name="reconcile_workflows")
    async def reconcile_workflows(self, request: ReconcileInput) -> ReconcileResult:
        """Each active booking has a running workflow whose status matches, and the reverse.

        Not incremental: a workflow can stop or change its status without any row
        changing, so every active booking is judged each run, a page at a time
        (the page's running workflows asked of Temporal by id).
        """
        now = datetime.now(UTC)
        settled_before = now - timedelta(seconds=request.grace_seconds)
        state = resumed() or {"after": _FIRST_ID, "checked": 0, "token": None, "reverse": False}
        findings = Findings()
        while not state["reverse"]:
            async with self._sessions() as session:
                findings.session = session
                rows = (
                    await session.execute(
                        select(Booking.id, Booking.status, Booking.workflow_id, Booking.updated_at)
                        .where(Booking.status.in_(_ACTIVE))
                        # A confirmed booking's workflow closes when its time has passed.
                        .where(Booking.ends_at > now, Booking.id > uuid.UUID(state["after"]))
                        .order_by(Booking.id)
                        .limit(request.page_size)
                    )
                ).all()
                settled = [r for r in rows if r.updated_at < settled_before]
                running = await self._running(r.workflow_id for r in settled)
                for row in settled:
                    await _judge_active(findings, row, running)
                await session.commit()
            state["checked"] += len(rows)
            if rows:
                state["after"] = str(rows[-1].id)
            state["reverse"] = len(rows) < request.page_size
            beat(state)
        query = 'WorkflowType="BookingWorkflow" AND ExecutionStatus="Running"'
        async for page, token in workflow_pages(
            self._temporal, query, request.page_size, state["token"]
        ):
            async with self._sessions() as session:
                findings.session = session
                await _running_without_active_booking(session, findings, page, settled_before)
                await session.commit()
            state["checked"] += len(page)
            state["token"] = token
            beat(state)
        return findings.result(request, int(state["checked"]))

    async def _running(self, workflow_ids: Iterable[str]) -> dict[str, str | None]:
        """The running booking workflows among ``workflow_ids``, with the status each says."""
        wanted = list(workflow_ids)
        if not wanted:
            return {}
        query = (
            'WorkflowType="BookingWorkflow" AND ExecutionStatus="Running" '
            f"AND WorkflowId IN ({_ids(wanted)})"
        )
        return {
            execution.id: execution.typed_search_attributes.get(BOOKING_STATUS)
            async for execution in self._temporal.list_workflows(query, page_size=len(wanted))
        }

    @activity.defn(name="reconcile_closed_workflows")
    async def reconcile_closed_workflows(self, request: ReconcileInput) -> ReconcileResult:
        """Booking workflows that closed without finishing their booking: WORKFLOW_MISSING.

        A booking workflow completes only once its booking has ended, so one
        that was terminated (or failed, or timed out) while its row is still
        active has left the booking with nobody to finish it. No grace period:
        a closed workflow does not settle. Runs every minute over the closes
        of the last hour (incremental by close time: only a close can make
        this finding); the alert is one per booking.
        """
        since = datetime.now(UTC) - timedelta(hours=1)
        query = (
            'WorkflowType="BookingWorkflow" AND ExecutionStatus!="Running" '
            f'AND ExecutionStatus!="Completed" AND CloseTime>"{since.isoformat()}"'
        )
        state = resumed() or {"token": None, "checked": 0}
        findings = Findings()
        async for page, token in workflow_pages(
            self._temporal, query, request.page_size, state["token"]
        ):
            async with self._sessions() as session:
                findings.session = session
                await _judge_closed(session, findings, page)
                await session.commit()
            state["checked"] += len(page)
            state["token"] = token
            beat(state)
        return findings.result(request, int(state["checked"]))

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
        findings = Findings()
        checked = 0
        for provider, gateway in sorted(self._gateways.items()):
            try:
                with gateway_timer(provider, "list_transactions"):
                    records: list[GatewayRecord] | None = await gateway.list_transactions(since)
            except GatewayError as exc:
                raise ApplicationError(
                    f"{provider}: {exc}",
                    type="GATEWAY_UNAVAILABLE",
                    non_retryable=not exc.retryable,
                ) from None
            if records is None:  # the gateway has no list to compare with
                continue
            checked += await reconcile_gateways.compare(
                self._sessions,
                findings,
                provider,
                records,
                since,
                settled_before,
                request.page_size,
            )
        return findings.result(request, checked)

    @activity.defn(name="purge_expired")
    async def purge_expired(self, request: ReconcileInput) -> ReconcileResult:
        """Delete idempotency keys past their TTL, and rate-limit windows that have ended."""
        keys, windows = await reconcile_purge.purge(self._sessions, request.purge_batch)
        log.info("reconcile.purged", keys=keys, windows=windows)
        return ReconcileResult(job=request.job, checked=keys + windows)

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


async def _judge_active(findings: Findings, row: Any, running: dict[str, str | None]) -> None:
    """An active booking row against its running workflow (absent: WORKFLOW_MISSING)."""
    if row.workflow_id not in running:
        await findings.add(
            AttentionKind.WORKFLOW_MISSING,
            str(row.id),
            f"booking {row.id} is {row.status} but workflow {row.workflow_id} is not running",
            row.id,
        )
    elif running[row.workflow_id] != row.status:
        await findings.add(
            AttentionKind.STATUS_MISMATCH,
            str(row.id),
            f"booking {row.id} is {row.status} in the database but its workflow "
            f"says {running[row.workflow_id]}",
            row.id,
        )


async def _running_without_active_booking(
    session: AsyncSession,
    findings: Findings,
    page: Sequence[WorkflowExecution],
    settled_before: datetime,
) -> None:
    """A running workflow that says its booking is active while the row says otherwise."""
    active = set(_ACTIVE)
    claimed = {
        e.id: e.typed_search_attributes.get(BOOKING_STATUS)
        for e in page
        if e.typed_search_attributes.get(BOOKING_STATUS) in active and e.start_time < settled_before
    }
    if not claimed:
        return
    rows = {
        row.workflow_id: row
        for row in (
            await session.execute(
                select(Booking.id, Booking.status, Booking.workflow_id, Booking.updated_at).where(
                    _by_workflow_id(list(claimed))
                )
            )
        ).all()
    }
    for workflow_id in sorted(claimed):
        row = rows.get(workflow_id)
        if row is not None and (row.status in active or row.updated_at >= settled_before):
            continue
        says = claimed[workflow_id]
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


def _by_workflow_id(workflow_ids: list[str]) -> ColumnElement[bool]:
    """The bookings of ``workflow_ids``, found by primary key where the id says its booking.

    A booking's workflow id is ``booking-<booking id>``; looking rows up by the
    primary key keeps a page's lookup an index probe per workflow.
    """
    ids: list[uuid.UUID] = []
    for workflow_id in workflow_ids:
        try:
            ids.append(uuid.UUID(workflow_id.removeprefix("booking-")))
        except ValueError:
            continue
    return Booking.id.in_(ids) & Booking.workflow_id.in_(workflow_ids)


async def _judge_closed(
    session: AsyncSession, findings: Findings, page: Sequence[WorkflowExecution]
) -> None:
    """The page's closed booking workflows whose booking is still active: WORKFLOW_MISSING."""
    closed = {e.id: e for e in page}
    if not closed:
        return
    rows = (
        await session.execute(
            select(Booking.id, Booking.status, Booking.workflow_id).where(
                _by_workflow_id(list(closed)), Booking.status.in_(_ACTIVE)
            )
        )
    ).all()
    for row in rows:
        execution = closed[row.workflow_id]
        how = execution.status.name if execution.status else "?"
        when = execution.close_time
        at = f" at {when:%Y-%m-%d %H:%M:%S} UTC" if when else ""
        await findings.add(
            AttentionKind.WORKFLOW_MISSING,
            str(row.id),
            f"booking {row.id} is {row.status} but its workflow {row.workflow_id} was "
            f"{how.lower()}{at}; {RECOVER.words(row.id)} finishes it",
            row.id,
        )
