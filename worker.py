"""The worker process: the only place that builds activity classes and their clients."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.alerts import AlertActivities
from activities.audit import AuditActivities
from activities.decision import DecisionActivities
from activities.meetings import MeetingActivities
from activities.notifications import NotificationActivities
from activities.payments import PaymentActivities
from activities.reconcile import ReconcileActivities
from activities.recovery import RecoveryActivities
from activities.slots import SlotActivities
from activities.topups import TopupActivities
from activities.wallet import WalletActivities
from core.code_cache import compile_once
from core.collector import settle_the_collector
from core.db import SessionFactory, create_engine, session_factory
from core.failures import FailureClassifier
from core.metrics import worker_runtime
from core.settings import Settings
from core.temporal import connect
from integrations.events_out import ClaimedEvent, EventDispatcher
from integrations.gateways.registry import build_gateways
from integrations.meetings import MeetingProvider, build_provider
from models.domain import AttentionKind
from stack.schedules import ensure_schedules
from store import alerts
from workflows.booking import BookingWorkflow
from workflows.ops import BookingOpsWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.topup import TopupWorkflow

log = structlog.get_logger(__name__)

# The sandbox executes a workflow's module afresh for every new workflow; what it
# imports from these is loaded once per worker instead. Data models and activity
# references, and the workflows' own pure helpers (no state between workflows, no
# clock, network or randomness: docs/determinism.md). Only the modules that
# define workflow classes are executed per workflow.
PASSED_THROUGH = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "models",
    "core",
    "activities",
    "workflows.saga",
    "workflows.policies",
    "workflows.reminders",
    "workflows.metrics",
    "workflows.ops_rules",
    "workflows.steps",
    "workflows.words",
    "workflows.attention",
    "workflows.pending",
    "workflows.refunds",
    "workflows.notices",
    "workflows.changes",
    "workflows.operator",
    "workflows.meetings",
    "workflows.gateway",
    "workflows.wallet",
    "workflows.parts",
)
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
)


def meeting_providers(settings: Settings, http: httpx.AsyncClient) -> dict[str, MeetingProvider]:
    """Every meeting provider that the settings allow."""
    providers = {"jitsi": build_provider("jitsi", settings, http)}
    if settings.google_access_token is not None:
        providers["google"] = build_provider("google", settings, http)
    return providers


def reconcile_activities(
    settings: Settings, sessions: SessionFactory, http: httpx.AsyncClient, temporal: Client
) -> list[Callable[..., Any]]:
    """The reconciliation jobs, bound to their clients (the schedules start them)."""
    jobs = ReconcileActivities(sessions, temporal, build_gateways(settings, http))
    return [
        jobs.reconcile_ledger,
        jobs.reconcile_ledger_full,
        jobs.reconcile_workflows,
        jobs.reconcile_closed_workflows,
        jobs.reconcile_gateways,
        jobs.purge_expired,
        jobs.reconcile_failed,
    ]


def topup_activities(
    settings: Settings, sessions: SessionFactory, http: httpx.AsyncClient
) -> list[Callable[..., Any]]:
    """The wallet top-ups' activities, bound to their clients."""
    topups = TopupActivities(sessions, build_gateways(settings, http))
    return [
        topups.create_topup_order,
        topups.credit_topup,
        topups.expire_topup,
        topups.refund_topup,
    ]


def engine_activities(
    settings: Settings, sessions: SessionFactory, http: httpx.AsyncClient
) -> list[Callable[..., Any]]:
    """Every activity of the engine, bound to its clients."""
    slots = SlotActivities(sessions)
    wallet = WalletActivities(sessions)
    providers = meeting_providers(settings, http)
    notifications = NotificationActivities(sessions, settings)
    decision = DecisionActivities(slots, wallet, providers, notifications)
    meetings = MeetingActivities(sessions, providers)
    payments = PaymentActivities(sessions, build_gateways(settings, http))
    audit = AuditActivities(sessions)
    alerts = AlertActivities(sessions)
    recovery = RecoveryActivities(sessions)
    return [
        slots.hold_slot,
        slots.release_slot,
        slots.move_booking,
        wallet.charge_wallet,
        wallet.refund_wallet,
        decision.decide_wallet,
        meetings.create_meeting,
        meetings.record_meeting_alert,
        meetings.cancel_meeting,
        notifications.send_notification,
        payments.create_order,
        payments.confirm_payment,
        payments.refund_payment,
        payments.mark_refund_processed,
        payments.find_refundable,
        payments.record_decline,
        payments.cancel_order,
        alerts.open_alert,
        alerts.settle_alert,
        audit.record_audit,
        recovery.recovery_plan,
    ]


async def alert_undelivered(session: AsyncSession, event: ClaimedEvent, error: str) -> None:
    """An outgoing booking event that exhausted its retries: EVENT_DELIVERY_FAILED."""
    await alerts.open_alert(
        session,
        AttentionKind.EVENT_DELIVERY_FAILED,
        f"event:{event.id}",
        f"booking event {event.payload.get('type', '?')} was not delivered after "
        f"{event.attempts} attempts: {error}",
        booking_id=event.booking_id,
    )


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """The sandbox, or none when ``BOOKING_WORKFLOW_SANDBOX=false`` (docs/determinism.md).

    Sandboxed, the workflow modules it executes for each new workflow are
    compiled once per process (``core.code_cache``), not read and unmarshalled
    (or compiled from source) every time.
    """
    if not settings.workflow_sandbox:
        return UnsandboxedWorkflowRunner()
    compile_once("workflows")
    return SANDBOX


def build_worker(
    client: Client,
    settings: Settings,
    activities: Sequence[Callable[..., Any]],
    *,
    task_queue: str | None = None,
) -> Worker:
    """A worker for booking workflows and the given activities."""
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[BookingWorkflow, BookingOpsWorkflow, ReconcileWorkflow, TopupWorkflow],
        activities=activities,
        workflow_runner=workflow_runner(settings),
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        # Defects and poison inputs fail at once; only transient faults are retried.
        interceptors=[FailureClassifier()],
        # Shutdown stops polling, then lets running activities finish within the drain.
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_drain_seconds),
    )


@asynccontextmanager
async def worker_resources(
    settings: Settings,
) -> AsyncIterator[tuple[SessionFactory, httpx.AsyncClient]]:
    """The database pool and HTTP client a worker's activities share."""
    engine = create_engine(settings)
    async with httpx.AsyncClient(timeout=httpx.Timeout(15.0)) as http:
        try:
            yield session_factory(engine), http
        finally:
            await engine.dispose()


async def until_signalled(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until SIGINT or SIGTERM, then cancel it (the worker drains on cancel)."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("worker.stopped")


async def run_worker(settings: Settings) -> None:
    """Run a worker until cancelled, with the booking event dispatcher when a URL is set.

    Its metrics (the Temporal SDK's and the engine's) are served on
    ``BOOKING_WORKER_METRICS_PORT``.
    """
    client = await connect(settings, worker_runtime(settings))
    async with worker_resources(settings) as (sessions, http):
        # Built first, so a URL without a signing secret stops the worker at start.
        events = (
            EventDispatcher(sessions, settings, http, on_gave_up=alert_undelivered)
            if settings.events_webhook_url
            else None
        )
        activities = engine_activities(settings, sessions, http)
        activities += topup_activities(settings, sessions, http)
        activities += reconcile_activities(settings, sessions, http, client)
        worker = build_worker(client, settings, activities)
        settle_the_collector(settings.gc_threshold)
        if settings.reconcile_schedules:
            await ensure_schedules(client, settings)
        log.info(
            "worker.started",
            task_queue=settings.task_queue,
            events=events is not None,
            workflow_sandbox=settings.workflow_sandbox,
            event_loop=type(asyncio.get_running_loop()).__module__,
        )
        if events is None:
            await worker.run()
            return
        delivery = asyncio.create_task(events.run(settings.events_poll_seconds))
        try:
            await worker.run()
        finally:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery


def main() -> None:
    """The worker process (``booking-engine worker``): run until SIGINT or SIGTERM."""
    from core.logging import configure_logging
    from core.loop import run
    from core.settings import get_settings

    settings = get_settings()
    configure_logging(settings)
    run(until_signalled(run_worker(settings)), settings.event_loop)


if __name__ == "__main__":
    main()
