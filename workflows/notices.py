"""The booking's notifications and reminders: handed to the outbox, never failing the booking.

Reminders are workflow timers before the start (``BookingPolicy``'s offsets):
moved on reschedule, dropped on cancel, skipped when already past (see
:mod:`workflows.reminders`). Passed through the sandbox (docs/determinism.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from models.domain import AttentionKind, BookingStatus, NotificationKind, NotificationStatus
from models.payloads import BookingInput, RefundInfo, SendNotificationInput
from workflows.attention import OperatorView
from workflows.policies import ActivityFailure, failure_message
from workflows.reminders import next_reminder_at, reminders_due
from workflows.saga import SagaState
from workflows.steps import Steps


class Notices:
    """Sends the booking's notifications; one that cannot be queued alerts operators.

    Args:
        request: The booking's start input (its id, the reminder offsets).
        state: The workflow's state (the calendar invite's sequence, reminders done).
        steps: The runner.
        view: What operators see (NOTIFICATION_FAILED).
    """

    def __init__(
        self, request: BookingInput, state: SagaState, steps: Steps, view: OperatorView
    ) -> None:
        self._booking_id = request.booking_id
        self._offsets = [timedelta(seconds=o) for o in request.policy.reminder_offsets_seconds]
        self._s = state
        self._steps = steps
        self._view = view

    async def send(
        self,
        kind: NotificationKind,
        *,
        about: str | None = None,
        refund: RefundInfo | None = None,
        charged: int | None = None,
    ) -> NotificationStatus:
        """Queue the ``kind`` notification (``about`` tells repeats of a kind apart)."""
        request = SendNotificationInput(
            booking_id=self._booking_id,
            kind=kind,
            about=about,
            sequence=self._s.calendar_sequence,
            refund=refund,
            charged=charged,
        )
        try:
            return await self._steps.notify(request, local=True)
        except ActivityFailure as err:
            # The booking goes on; operators see NOTIFICATION_FAILED.
            await self._view.attend(
                AttentionKind.NOTIFICATION_FAILED,
                f"the {kind} notification could not be queued: {failure_message(err)}",
            )
            return NotificationStatus.FAILED

    async def send_due_reminders(self) -> None:
        """Send the reminders that fell due; skip those whose time passed before the booking."""
        s = self._s
        if s.status != BookingStatus.CONFIRMED or s.reminders_since is None:
            return
        assert s.hold is not None
        send, skip = reminders_due(
            self._offsets,
            s.hold.starts_at,
            move=s.moves,
            since=s.reminders_since,
            now=workflow.now(),
            done=s.reminders_done,
        )
        s.reminders_done.update(skip)
        for reminder in send:
            s.reminders_done.add(reminder)
            await self.send(NotificationKind.BOOKING_REMINDER, about=reminder.about)

    def next_reminder_at(self) -> datetime | None:
        """When the next reminder falls due (None: none left, or none for this booking)."""
        s = self._s
        if s.status != BookingStatus.CONFIRMED or s.reminders_since is None:
            return None
        assert s.hold is not None
        return next_reminder_at(self._offsets, s.hold.starts_at, now=workflow.now())
