"""The booking's meeting link: made after the payment, never a reason to refund.

A link that cannot be made within its bound keeps ``meeting.status=PENDING``,
raises MEETING_LINK_FAILING and waits for an operator's retry; once made late,
it is mailed. Passed through the sandbox (docs/determinism.md).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from models.domain import AttentionKind, BookingStatus, MeetingStatus, NotificationKind
from models.payloads import BookingInput, CreateMeetingInput, RecordMeetingAlertInput
from workflows.attention import OperatorView
from workflows.notices import Notices
from workflows.pending import MustHappen
from workflows.policies import MEETING_RETRY, STEP_TIMEOUT, ActivityFailure, failure_message
from workflows.saga import SagaState, Undo, UndoKind
from workflows.steps import Steps
from workflows.words import meeting_missing_words, ready_words

with workflow.unsafe.imports_passed_through():
    from activities.meetings import MeetingActivities


class Meetings:
    """Makes (or moves) the booking's meeting link, and retries it when an operator asks.

    Args:
        request: The booking's start input (the alert bound).
        state: The workflow's state.
        steps: The runner.
        view: What operators see.
        must: The must-happen steps (the alert's record).
        notices: The customer's notifications (a link made late).
    """

    def __init__(
        self,
        request: BookingInput,
        state: SagaState,
        steps: Steps,
        view: OperatorView,
        must: MustHappen,
        notices: Notices,
    ) -> None:
        self._bound = timedelta(seconds=request.policy.meeting_alert_after_seconds)
        self._s = state
        self._steps = steps
        self._view = view
        self._must = must
        self._notices = notices

    async def create(self) -> bool:
        """Create (or move) the meeting link; False when it is still missing."""
        s = self._s
        if s.status != BookingStatus.CONFIRMED:
            return False
        assert s.hold is not None
        hold = s.hold
        # Pushed first (once): a cancel racing the creation still cancels the meeting.
        if Undo(UndoKind.CANCEL_MEETING) not in s.undo:
            s.undo.append(Undo(UndoKind.CANCEL_MEETING))
        self._view.show(f"confirmed; creating the {hold.meeting_provider} meeting link")
        meeting = CreateMeetingInput(
            booking_id=hold.booking_id,
            provider=hold.meeting_provider,
            starts_at=hold.starts_at,
            ends_at=hold.ends_at,
        )
        try:
            await self._steps.run(
                MeetingActivities.create_meeting,
                meeting,
                bound=self._bound,
                retry=MEETING_RETRY,
                attempt=STEP_TIMEOUT,
            )
        except ActivityFailure as err:
            # Never refund a paid booking over a meeting link: keep it PENDING,
            # alert operators, and wait for their retry signal.
            alert = f"meeting link still missing after {self._bound}: {failure_message(err)}"
            alert = alert[:300]
            await self._must.run(
                MeetingActivities.record_meeting_alert,
                RecordMeetingAlertInput(
                    booking_id=hold.booking_id, status=MeetingStatus.PENDING, alert=alert
                ),
                what="recording the meeting alert",
            )
            await self._view.attend(AttentionKind.MEETING_LINK_FAILING, alert)
            self._view.show(meeting_missing_words(hold.meeting_provider, alert, hold.booking_id))
            return False
        s.meeting = MeetingStatus.READY
        await self._view.settle(AttentionKind.MEETING_LINK_FAILING, "the meeting link was created")
        self._view.show(ready_words(hold))
        return True

    async def retry(self) -> None:
        """An operator's retry of a missing link; once made, it is mailed (it comes late)."""
        s = self._s
        s.meeting_retry_requested = False
        if s.meeting != MeetingStatus.READY and await self.create():
            s.calendar_sequence += 1
            await self._notices.send(
                NotificationKind.MEETING_READY, about=f"meeting:{s.calendar_sequence}"
            )
