"""Changes to a booking, one at a time: cancel and reschedule (and an operator's refund).

:class:`Changes` holds the change lock that serialises them and counts the
changes in flight (the workflow is not idle while one is). A cancel unwinds
the saga's one compensation stack through the workflow's ``finish``; a move
asks the slots activity, refunds a cheaper difference, and leaves the new
meeting link and the mail to the workflow's main loop. Passed through the
sandbox (docs/determinism.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from typing import Protocol

from temporalio import workflow

from models.domain import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    BookingStatus,
    MeetingStatus,
    NotificationKind,
    PaymentMethod,
    Reason,
)
from models.errors import ErrorCode
from models.payloads import (
    CancelInput,
    CancelResult,
    MoveBookingInput,
    RefundInfo,
    RescheduleInput,
    RescheduleResult,
)
from workflows.meetings import Meetings
from workflows.parts import Parts
from workflows.policies import ActivityFailure, failure_message, failure_reason, refusal
from workflows.saga import REFUNDS, late_payment_window, not_movable
from workflows.words import booking_words

with workflow.unsafe.imports_passed_through():
    from activities.slots import SlotActivities


# Who asked, in the audit log, when the request came through Temporal's own cancel.
TEMPORAL_ACTOR = "temporal"


class Finish(Protocol):
    """The workflow's one unwind: end the booking as ``status`` (see BookingWorkflow.finish)."""

    def __call__(
        self,
        status: BookingStatus,
        reason: str | None,
        *,
        notify: bool = True,
        refund_reason: str | None = None,
    ) -> Awaitable[RefundInfo | None]:
        """End the booking; returns the refund the unwinding made."""
        ...


class Changes:
    """The booking's changes, serialised: one at a time, one answer per cancel.

    Args:
        parts: What the workflow's objects share (input, state, runner, view, ...).
        meetings: The meeting link (a move makes it anew).
        finish: The workflow's unwind of the compensation stack.
    """

    def __init__(self, parts: Parts, *, meetings: Meetings, finish: Finish) -> None:
        self._request, self._s, self._steps = parts.request, parts.state, parts.steps
        self._view, self._must, self._notices = parts.view, parts.must, parts.notices
        self._refunds, self._meetings, self._finish = parts.refunds, meetings, finish
        self.lock = asyncio.Lock()
        # Changes in flight: the lock's holder and its waiters (and a cancel's mail).
        self.in_flight = 0

    @contextlib.contextmanager
    def counted(self) -> Iterator[None]:
        """Count a change as in flight while its block runs."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def cancel(self, request: CancelInput) -> CancelResult:
        """Cancel: the compensations in reverse (meeting, refund per policy, order, slot).

        Concurrent and repeated cancels get the first one's answer: one refund.
        The mail goes out after the change lock is released.
        """
        s = self._s
        with self.counted():
            async with self.lock:
                first = s.cancel_result is None
                if first:
                    await workflow.wait_condition(lambda: s.decision is not None)
                    if s.status not in ACTIVE_STATUSES:
                        raise refusal(
                            ErrorCode.BOOKING_NOT_CANCELLABLE, f"the booking is {s.status}"
                        )
                    s.cancel_result = await self._cancel(request)
                result = s.cancel_result
            assert result is not None
            if first:
                s.calendar_sequence += 1
                await self._notices.send(NotificationKind.BOOKING_CANCELLED, refund=result.refund)
            return result

    async def on_temporal_cancel(self) -> None:
        """A cancellation requested through Temporal: the booking's cancel, or recorded and ignored.

        It runs as an operator's cancel (the policy's refund, the mail). A
        booking that cannot be cancelled goes on; the audit row and the
        current details say the request was ignored and why.
        """
        request = CancelInput(
            actor=TEMPORAL_ACTOR, by_operator=True, reason="cancellation requested in Temporal"
        )
        s = self._s
        await workflow.wait_condition(lambda: s.decision is not None)
        if s.cancel_result is None and s.status not in ACTIVE_STATUSES:
            why = f"the booking is {s.status}"
            await self._must.audit(
                TEMPORAL_ACTOR, "booking.cancel_ignored", why, "the ignored cancel"
            )
            self._view.show(f"{s.details}; a cancellation requested in Temporal was ignored: {why}")
            return
        await self.cancel(request)

    def accept_cancel(self, request: CancelInput) -> None:
        """Refuse a first cancel of a booking that has ended (a repeat gets its answer)."""
        if self._s.cancel_result is None and self._s.status in TERMINAL_STATUSES:
            raise refusal(ErrorCode.BOOKING_NOT_CANCELLABLE, f"the booking is {self._s.status}")

    async def _cancel(self, request: CancelInput) -> CancelResult:
        s = self._s
        s.cancelling = True
        who = "an operator" if request.by_operator else "the customer"
        self._view.show(f"cancelling at the request of {who}")
        await self._must.audit(
            request.actor, "booking.cancel_requested", request.reason, "the cancel"
        )
        refund = await self._finish(
            BookingStatus.CANCELLED,
            Reason.CANCELLED_BY_OPERATOR if request.by_operator else Reason.CANCELLED_BY_CUSTOMER,
            notify=False,
            refund_reason="cancellation",
        )
        # Wallet money cannot arrive late; gateway money can, for a while.
        s.close_at = workflow.now() + late_payment_window(self._request)
        s.moved_to = None
        self._view.show(f"cancelled by {who}")
        return CancelResult(
            booking_id=self._request.booking_id, status=BookingStatus.CANCELLED, refund=refund
        )

    async def reschedule(self, request: RescheduleInput) -> RescheduleResult:
        """Move a confirmed booking to another slot; a cheaper one refunds the difference.

        The answer comes once the move and its refund are done; the new meeting
        link and the mail follow from the main loop, outside the change lock.
        """
        with self.counted():
            async with self.lock:
                return await self._reschedule(request)

    async def after_move(self) -> None:
        """A moved booking's meeting at the new time, its mail, and its new reminders.

        Run by the workflow's main loop, outside the change lock.
        """
        s = self._s
        move, s.moved_to = s.moved_to, None
        await self._meetings.create()
        s.calendar_sequence += 1
        difference, refund = s.move_money
        await self._notices.send(
            NotificationKind.BOOKING_RESCHEDULED,
            about=f"move:{move}",
            refund=refund,
            charged=difference if difference > 0 else None,
        )
        s.reminders_since = workflow.now()

    def accept_reschedule(self, request: RescheduleInput) -> None:
        """Refuse to move a booking that has ended."""
        if self._s.status in TERMINAL_STATUSES:
            raise refusal(ErrorCode.INVALID_STATE, not_movable(self._s.status))

    async def _reschedule(self, request: RescheduleInput) -> RescheduleResult:
        s = self._s
        await workflow.wait_condition(lambda: s.decision is not None)
        if s.status != BookingStatus.CONFIRMED or s.hold is None:
            raise refusal(ErrorCode.INVALID_STATE, not_movable(s.status))
        move = s.moves + 1
        try:
            moved = await self._steps.decide_remote(
                SlotActivities.move_booking,
                MoveBookingInput(
                    booking_id=s.hold.booking_id,
                    customer_id=self._request.customer_id,
                    slot_id=request.slot_id,
                    range=request.range,
                    allow_wallet_topup=self._request.payment.method == PaymentMethod.WALLET,
                    move=move,
                ),
            )
        except ActivityFailure as err:
            raise refusal(failure_reason(err), failure_message(err)) from None
        s.moves, s.hold = move, moved.hold
        refund = None
        if moved.difference < 0:
            paid_by = next(u for u in s.undo if u.kind in REFUNDS)
            refund = await self._refunds.give_back(
                -moved.difference, "reschedule to a cheaper time", paid_by=paid_by, move=move
            )
        s.close_at = moved.hold.ends_at
        s.meeting, s.moved_to = MeetingStatus.PENDING, move
        s.move_money = (moved.difference, refund)
        self._view.show(f"moved to {booking_words(moved.hold)}; creating its meeting link")
        return RescheduleResult(
            booking_id=moved.hold.booking_id,
            slot_id=moved.hold.slot_id,
            difference=moved.difference,
            refund=refund,
        )
