"""Shared state and steps of the booking workflow: status, release, fail, meeting, notify."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.common import (
    BOOKING_STATUS,
    COMPENSATION_RETRY,
    MEETING_RETRY,
    NOTIFY_RETRY,
    RESOURCE_ID,
    STEP_TIMEOUT,
    ActivityFailure,
)

with workflow.unsafe.imports_passed_through():
    from activities.meetings import MeetingActivities
    from activities.notifications import NotificationActivities
    from activities.payments import PaymentActivities
    from activities.slots import SlotActivities
    from core.errors import ErrorCode
    from models.flow import (
        BookingInput,
        BookingResult,
        BookingStatus,
        CancelResult,
        CreateResult,
        FlagInput,
        Hold,
        MeetingInput,
        MeetingRecordInput,
        MeetingStatus,
        NotificationKind,
        NotifyInput,
        PaymentEvent,
        ReleaseInput,
    )


class BookingSteps:
    """State of one booking workflow and the steps every path shares.

    Split from :class:`workflows.booking.BookingWorkflow` by concern; the
    attributes are set in the workflow's ``__init__``.
    """

    _request: BookingInput
    _status: BookingStatus | None
    _reason: str | None
    _decision: CreateResult | None
    _meeting_status: MeetingStatus
    _meeting_retry_requested: bool
    _events: deque[PaymentEvent]
    _seen_events: set[str]
    _order_id: str | None
    _deadline: datetime | None
    _captured_payment: str | None
    _hold: Hold | None
    _cancelling: bool
    _cancel_result: CancelResult | None
    _cancel_lock: asyncio.Lock
    _linger_until: datetime | None

    def _set_status(self, status: BookingStatus, resource: Hold | None = None) -> None:
        self._status = status
        current = workflow.info().typed_search_attributes
        updates = []
        if current.get(BOOKING_STATUS) != status.value:
            updates.append(BOOKING_STATUS.value_set(status.value))
        if resource is not None and current.get(RESOURCE_ID) != str(resource.resource_id):
            updates.append(RESOURCE_ID.value_set(str(resource.resource_id)))
        # The start already carries HELD and the resource: only real changes
        # cost a history event and a visibility write.
        if updates:
            workflow.upsert_search_attributes(updates)

    async def _release(self, status: BookingStatus, reason: ErrorCode | None) -> None:
        await workflow.execute_activity_method(
            SlotActivities.release_slot,
            ReleaseInput(booking_id=self._request.booking_id, status=status, reason=reason),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )

    async def _fail(self, reason: ErrorCode, *, notify: bool) -> None:
        self._reason = reason.value
        self._set_status(BookingStatus.FAILED)
        if self._decision is None:
            self._decision = CreateResult(
                booking_id=self._request.booking_id, status=BookingStatus.FAILED, reason=reason
            )
        workflow.set_current_details(f"failed: {reason.value}")
        if notify:
            await self._notify("booking_failed")

    async def _flag(self, reason: str) -> None:
        await workflow.execute_activity_method(
            PaymentActivities.flag_booking,
            FlagInput(booking_id=self._request.booking_id, reason=reason),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=COMPENSATION_RETRY,
        )

    async def _create_meeting(self, hold: Hold) -> None:
        workflow.set_current_details(f"creating the {hold.meeting_provider} meeting link")
        bound = timedelta(seconds=self._request.policy.meeting_alert_after_seconds)
        try:
            await workflow.execute_activity_method(
                MeetingActivities.create_meeting,
                MeetingInput(
                    booking_id=hold.booking_id,
                    provider=hold.meeting_provider,
                    starts_at=hold.starts_at,
                    ends_at=hold.ends_at,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                schedule_to_close_timeout=bound,
                retry_policy=MEETING_RETRY,
            )
        except ActivityFailure as err:
            # Never refund a paid booking over a meeting link: keep it PENDING,
            # alert operators, and wait for their retry signal.
            alert = f"meeting link still missing after {bound}: {err.cause or err}"
            await workflow.execute_activity_method(
                MeetingActivities.record_meeting_alert,
                MeetingRecordInput(
                    booking_id=hold.booking_id, status=MeetingStatus.PENDING, alert=alert[:300]
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=COMPENSATION_RETRY,
            )
            workflow.set_current_details(
                "confirmed; meeting link creation failing, waiting for an operator "
                "to send the retry_meeting signal"
            )
            return
        self._meeting_status = MeetingStatus.READY
        workflow.set_current_details("confirmed; meeting link ready")

    async def _notify(self, kind: NotificationKind) -> None:
        # Local: one SMTP hand-off needs no task-queue round trip or workflow
        # task of its own. The outbox row bounds the attempts, so a mail outage
        # ends in a FAILED notification, never a stuck booking.
        await workflow.execute_local_activity_method(
            NotificationActivities.send_notification,
            NotifyInput(booking_id=self._request.booking_id, kind=kind),
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
        )

    async def _result(self) -> BookingResult:
        # The create update must answer before the run returns, or Temporal
        # fails it with "workflow completed before the update completed".
        await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._decision is not None
        assert self._status is not None
        return BookingResult(
            booking_id=self._request.booking_id,
            status=self._status,
            reason=self._reason,
            create=self._decision,
        )
