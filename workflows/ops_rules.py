"""The rules of operator actions that the booking workflow and the ops workflow share.

Pure functions and one activity call, kept out of the workflow modules so that
the sandbox executes them once per worker (passed through; see
docs/determinism.md). Nothing here may hold state between workflows or read the
clock, the network or randomness.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import workflow

from activities.payments import PaymentActivities
from models.errors import ErrorCode
from models.payloads import (
    FindRefundableInput,
    OpsRefundInput,
    RecordAuditInput,
    Refundable,
    ResendNotificationInput,
)
from workflows.policies import DECISION_ATTEMPT_TIMEOUT, DECISION_RETRY, refusal, within


def refund_amount_for(plan: Refundable, amount: int | None) -> int:
    """What an operator's refund gives back (None: all that is left), or its refusal.

    Raises:
        ApplicationError: ``INVALID_STATE`` when nothing is left,
            ``VALIDATION_ERROR`` when ``amount`` is more than is left.
    """
    if plan.remaining <= 0:
        raise refusal(ErrorCode.INVALID_STATE, "nothing is left to refund on this booking")
    if amount is None:
        return plan.remaining
    if amount > plan.remaining:
        raise refusal(
            ErrorCode.VALIDATION_ERROR,
            f"amount: at most {plan.remaining} {plan.currency} is left to refund",
        )
    return amount


def refund_audit(booking_id: uuid.UUID, request: OpsRefundInput, amount: int) -> RecordAuditInput:
    """The audit row of an operator's refund (one per request)."""
    return RecordAuditInput(
        booking_id=booking_id,
        actor=request.actor,
        action=f"refund.requested:{request.request_id}",
        reason=f"{amount}: {request.reason}",
    )


def resend_audit(booking_id: uuid.UUID, request: ResendNotificationInput) -> RecordAuditInput:
    """The audit row of an operator's resent notification (one per request)."""
    return RecordAuditInput(
        booking_id=booking_id,
        actor=request.actor,
        action=f"notification.resent:{request.request_id}",
        reason=f"{request.kind}: {request.note or 'resent'}",
    )


async def find_refundable(booking_id: uuid.UUID, bound: timedelta) -> Refundable:
    """Ask PostgreSQL what is left to refund (local: a read the caller waits for)."""
    return await workflow.execute_local_activity_method(
        PaymentActivities.find_refundable,
        FindRefundableInput(booking_id=booking_id),
        start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
        schedule_to_close_timeout=bound,
        retry_policy=within(DECISION_RETRY, bound),
    )
