"""What an operator's recovery of a booking reads: the booking as its row says it is.

A booking whose workflow was terminated (or lost otherwise) has nobody to
finish it. ``POST /v1/ops/bookings/{id}/recover`` sends the booking's ops
workflow (:mod:`workflows.ops`) to finish it truthfully; this activity tells
it where the booking stands.
"""

from __future__ import annotations

from temporalio import activity

from core.db import SessionFactory
from models.db import Booking
from models.domain import BookingStatus, MeetingStatus
from models.errors import ErrorCode, business_failure
from models.payloads.recovery import RecoveryPlan, RecoveryPlanInput


class RecoveryActivities:
    """Reads for the recovery of a booking without its workflow."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="recovery_plan")
    async def recovery_plan(self, request: RecoveryPlanInput) -> RecoveryPlan:
        """The booking's status, order and meeting as the database has them."""
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id)
            if booking is None:
                raise business_failure(ErrorCode.BOOKING_NOT_FOUND)
            return RecoveryPlan(
                booking_id=booking.id,
                status=BookingStatus(booking.status),
                provider=booking.payment_provider,
                order_id=booking.payment_order_id,
                meeting_status=MeetingStatus(booking.meeting_status),
                ends_at=booking.ends_at,
            )
