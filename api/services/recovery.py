"""An operator finishes a booking whose workflow is gone: ``POST /v1/ops/bookings/{id}/recover``.

A booking workflow closes only once its booking has ended; one terminated in
the Temporal UI leaves an active booking with nobody to finish it.
Reconciliation finds it within a minute (WORKFLOW_MISSING); this action sends
the booking's ops workflow to finish it (``BookingOpsWorkflow.recover``). It
refuses while the booking's workflow still runs: that one finishes its own
booking (cancel it instead).
"""

from __future__ import annotations

import uuid

import structlog
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Services
from api.schemas.common import Money, RefundMadeOut
from api.schemas.ops import RecoverOut
from api.services.booking_changes import owned_booking_bound, update_error
from api.services.booking_ops import on_ops_workflow
from core.auth import Principal
from models.errors import BookingError, ErrorCode
from models.payloads import RecoverInput, RecoverResult
from workflows.ops import BookingOpsWorkflow

log = structlog.get_logger(__name__)


async def recover(
    services: Services, user: Principal, booking_id: uuid.UUID, note: str
) -> RecoverOut:
    """Finish the booking truthfully through its ops workflow (audited).

    Raises:
        BookingError: 409 INVALID_STATE while the booking's own workflow runs.
    """
    booking = await owned_booking_bound(services, user, booking_id)
    client = await services.temporal.client()
    try:
        described = await client.get_workflow_handle(booking.workflow_id).describe()
        running = described.status == WorkflowExecutionStatus.RUNNING
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        running = False
    if running:
        raise BookingError(
            ErrorCode.INVALID_STATE,
            "The booking's workflow is running and finishes the booking itself; cancel it instead.",
        )
    request = RecoverInput(request_id=uuid.uuid4(), actor=f"{user.role}:{user.sub}", note=note)
    try:
        result: RecoverResult = await on_ops_workflow(
            services,
            booking,
            "the recovery",
            BookingOpsWorkflow.recover,
            request,
            f"recover-{request.request_id}",
        )
    except WorkflowUpdateFailedError as exc:
        raise update_error(exc) from None
    refund = result.refund
    log.info("ops.booking_recovered", status=result.status, already=result.already)
    return RecoverOut(
        booking_id=result.booking_id,
        status=result.status,
        refund=None
        if refund is None
        else RefundMadeOut(
            amount=Money(amount=refund.amount, currency=refund.currency),
            method=refund.method,
            status=refund.status,
        ),
        already_finished=result.already,
    )
