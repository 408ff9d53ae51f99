"""The reconciliation schedules, created (or brought up to date) when a worker starts.

Fixed ids, so every worker start converges on the same schedules, which
operators find under Schedules in the Temporal UI:

    reconcile-ledger      every 15 min   each balance written since the last run equals the sum
                                         of its ledger; credit spikes
    reconcile-ledger-full daily          every balance equals the sum of its ledger
    reconcile-workflows   every 15 min   each active booking has a running, agreeing workflow
    reconcile-closed-workflows  every minute  a booking workflow closed while its booking is active
    reconcile-gateways    hourly         the gateways' captures and refunds against our books
    purge-idempotency     daily          idempotency keys past their TTL, ended rate windows
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core.settings import Settings
from models.domain import ReconcileJob
from models.payloads.reconcile import ReconcileInput
from workflows.reconcile import ReconcileWorkflow

log = structlog.get_logger(__name__)

SCHEDULES: dict[str, tuple[ReconcileJob, timedelta, str]] = {
    "reconcile-ledger": (
        ReconcileJob.LEDGER,
        timedelta(minutes=15),
        "Each wallet balance against the sum of its ledger; credit spikes.",
    ),
    "reconcile-ledger-full": (
        ReconcileJob.LEDGER_FULL,
        timedelta(days=1),
        "Every wallet balance against the sum of its ledger (the 15-minute run is incremental).",
    ),
    "reconcile-workflows": (
        ReconcileJob.WORKFLOWS,
        timedelta(minutes=15),
        "Each active booking has a running workflow whose status matches, and the reverse.",
    ),
    "reconcile-closed-workflows": (
        ReconcileJob.CLOSED_WORKFLOWS,
        timedelta(minutes=1),
        "Booking workflows closed (terminated in the Temporal UI) while their booking is active.",
    ),
    "reconcile-gateways": (
        ReconcileJob.GATEWAYS,
        timedelta(hours=1),
        "The gateways' captures and refunds against gateway_transactions.",
    ),
    "purge-idempotency": (
        ReconcileJob.PURGE,
        timedelta(days=1),
        "Idempotency keys past their TTL and ended rate-limit windows.",
    ),
}


def schedule_for(schedule_id: str, settings: Settings) -> Schedule:
    """The schedule ``schedule_id`` as these settings want it."""
    job, every, note = SCHEDULES[schedule_id]
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            ReconcileInput(
                job=job,
                grace_seconds=settings.reconcile_grace_seconds,
                lookback_hours=settings.reconcile_lookback_hours,
                credit_spike_amount=settings.credit_spike_amount,
            ),
            id=schedule_id,
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=30),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=note),
    )


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the schedules, or update each that exists to what the settings want now."""
    for schedule_id in SCHEDULES:
        schedule = schedule_for(schedule_id, settings)
        try:
            await client.create_schedule(schedule_id, schedule)
            log.info("schedule.created", schedule_id=schedule_id)
        except ScheduleAlreadyRunningError:

            def _replace(_: ScheduleUpdateInput, wanted: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=wanted)

            await client.get_schedule_handle(schedule_id).update(_replace)
