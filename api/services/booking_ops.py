"""Operator actions on one booking: refund, resend a notification.

Each goes to the booking's own workflow while it runs (an update with a
validator, serialised with cancel and reschedule), or to the booking's ops
workflow once it has closed (:mod:`workflows.ops`). Refunds are idempotent per
``Idempotency-Key``: the key's record names the request, the request's id keys
the refund, and the first answer is replayed.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Services
from api.schemas.common import Money, RefundMadeOut
from api.schemas.ops import OperatorRefundOut, ResendNotificationOut
from api.services.booking_changes import bounded, owned_booking_bound, update_error
from api.services.commands import RefundBooking, ResendNotification
from api.services.idempotency import Refusal, Success
from core.auth import Principal
from models.db import Booking, Notification
from models.errors import BookingError, ErrorCode
from models.payloads import (
    BookingOpsInput,
    BookingPolicy,
    OpsRefundInput,
    OpsRefundResult,
    ResendNotificationInput,
    ResendNotificationResult,
)
from workflows.booking import BookingWorkflow
from workflows.ops import BookingOpsWorkflow

log = structlog.get_logger(__name__)

REFUND_SCOPE = "ops.refund"


def ops_workflow_id(booking: Booking) -> str:
    """The workflow that serves operator actions once the booking's own has closed."""
    return f"{booking.workflow_id}-ops"


async def refund(
    services: Services, user: Principal, booking_id: uuid.UUID, key: str, request: RefundBooking
) -> tuple[OperatorRefundOut, bool]:
    """Refund some or all of what is left of a booking's payment, once per Idempotency-Key.

    Returns:
        The refund, and whether this answer is a replay.

    Raises:
        BookingError: 422 above what is left or in another currency, 409 when
            nothing was paid or nothing is left, 503 while the workflow is slow.
    """
    booking = await owned_booking_bound(services, user, booking_id)
    if request.amount is not None and request.amount.currency != booking.currency:
        raise BookingError(
            ErrorCode.VALIDATION_ERROR,
            f"amount.currency: the booking is paid in {booking.currency}",
        )
    if request.amount is not None and request.amount.amount == 0:
        raise BookingError(ErrorCode.VALIDATION_ERROR, "amount.amount: must be positive")
    claim = await services.claims.claim(
        principal=f"booking:{booking_id}",
        scope=REFUND_SCOPE,
        key=key,
        body=request.fingerprint(),
        ttl_days=services.settings.idempotency_ttl_days,
    )
    if claim.answer is not None:
        if isinstance(claim.answer, Refusal):
            raise BookingError(claim.answer.code, claim.answer.message)
        return OperatorRefundOut.model_validate(claim.answer.body), True
    workflow_request = OpsRefundInput(
        request_id=claim.target_id,
        actor=f"{user.role}:{user.sub}",
        reason=request.reason,
        amount=None if request.amount is None else request.amount.amount,
    )
    try:
        result: OpsRefundResult = await _send_action(
            services,
            booking,
            "refund",
            (BookingWorkflow.refund, BookingOpsWorkflow.refund),
            workflow_request,
            f"refund-{claim.target_id}",
        )
    except BookingError as err:
        if err.code in (ErrorCode.VALIDATION_ERROR, ErrorCode.INVALID_STATE):
            # A refusal changed nothing: the same key gets the same refusal.
            await claim.settle(Refusal(err.code, err.message))
        raise
    out = OperatorRefundOut(
        booking_id=result.booking_id,
        refund=RefundMadeOut(
            amount=Money(amount=result.refund.amount, currency=result.refund.currency),
            method=result.refund.method,
            status=result.refund.status,
        ),
    )
    stored = await claim.settle(Success(201, out.model_dump(mode="json")))
    assert isinstance(stored, Success)
    log.info("ops.refunded", amount=result.refund.amount, status=result.refund.status)
    return OperatorRefundOut.model_validate(stored.body), False


async def resend_notification(
    services: Services, user: Principal, booking_id: uuid.UUID, resend: ResendNotification
) -> ResendNotificationOut:
    """Send one of the booking's notifications again (audited).

    Raises:
        BookingError: 409 INVALID_STATE when the booking was never sent that kind.
    """
    booking = await owned_booking_bound(services, user, booking_id)
    async with services.sessions() as session:
        sent_before = (
            await session.execute(
                select(Notification.id)
                .where(Notification.booking_id == booking_id, Notification.kind == resend.kind)
                .limit(1)
            )
        ).first()
    if sent_before is None:
        raise BookingError(
            ErrorCode.INVALID_STATE,
            f"kind: this booking was never sent a {resend.kind} notification",
        )
    request = ResendNotificationInput(
        request_id=uuid.uuid4(), actor=f"{user.role}:{user.sub}", kind=resend.kind, note=resend.note
    )
    result: ResendNotificationResult = await _send_action(
        services,
        booking,
        "notification",
        (BookingWorkflow.resend_notification, BookingOpsWorkflow.resend_notification),
        request,
        f"resend-{request.request_id}",
    )
    log.info("ops.notification_resent", kind=resend.kind, status=result.status)
    return ResendNotificationOut(booking_id=booking_id, kind=result.kind, status=result.status)


async def _send_action(
    services: Services,
    booking: Booking,
    what: str,
    updates: tuple[Any, Any],
    request: OpsRefundInput | ResendNotificationInput,
    update_id: str,
) -> Any:
    """Send the action to the booking's workflow, or to its ops workflow once it has closed.

    ``updates`` names the action on each (the same update on both classes).
    The ops workflow is started with the action (Update-with-Start) when none
    runs; one that runs takes it as an update. The fixed ``update_id`` makes a
    retried request attach to the first one's update.
    """
    on_booking, on_ops = updates
    client = await services.temporal.client()
    handle = client.get_workflow_handle_for(BookingWorkflow.run, booking.workflow_id)
    try:
        try:
            return await bounded(
                services, what, lambda: handle.execute_update(on_booking, request, id=update_id)
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        # The booking's workflow has closed: its ops workflow takes the action.
        return await on_ops_workflow(services, booking, what, on_ops, request, update_id)
    except WorkflowUpdateFailedError as exc:
        raise update_error(exc) from None


async def on_ops_workflow(
    services: Services, booking: Booking, what: str, update: Any, request: Any, update_id: str
) -> Any:
    """Send an action to the booking's ops workflow, starting it with the action if none runs.

    Raises:
        WorkflowUpdateFailedError: The ops workflow refused the action.
    """
    client = await services.temporal.client()

    def start() -> WithStartWorkflowOperation[Any, Any]:
        # An operation is used once; a resent update needs its own.
        return WithStartWorkflowOperation(
            BookingOpsWorkflow.run,
            BookingOpsInput(
                booking_id=booking.id,
                policy=BookingPolicy(
                    gateway_max_attempts=services.settings.gateway_max_attempts,
                    decision_timeout_seconds=services.settings.create_timeout_seconds,
                ),
            ),
            id=ops_workflow_id(booking),
            task_queue=services.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"Operator actions on booking {booking.id}",
        )

    return await bounded(
        services,
        what,
        lambda: client.execute_update_with_start_workflow(
            update,
            request,
            start_workflow_operation=start(),
            id=update_id,
            rpc_timeout=timedelta(seconds=services.settings.change_timeout_seconds),
        ),
    )
