"""What operators see of a booking: its status, search attributes, details and alerts.

:class:`OperatorView` sets the status, the search attributes and the current
details together (one method, so they never disagree), and puts a booking in
front of operators (``BookingAttention``, a log event, an alert row) or takes
it away once what needed them went through. Passed through the sandbox
(docs/determinism.md): its state is the workflow's :class:`SagaState`.
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from models.domain import AttentionKind, BookingStatus
from models.payloads import OpenAlertInput, SettleAlertInput, SlotHold
from models.search_attributes import (
    BOOKING_ATTENTION,
    BOOKING_STATUS,
    PAYMENT_DEADLINE,
    RESOURCE_ID,
)
from workflows.metrics import count_booking
from workflows.policies import ALERT_ROW_BOUND, PENDING_ROUNDS, ActivityFailure
from workflows.saga import SagaState
from workflows.steps import Steps
from workflows.words import pending_words

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities


class OperatorView:
    """The booking as the Temporal UI and the alert list show it.

    Args:
        booking_id: The booking whose alerts these are.
        state: The workflow's state (status, details, attention, pending steps).
        steps: The runner for the alert rows.
    """

    def __init__(self, booking_id: uuid.UUID, state: SagaState, steps: Steps) -> None:
        self._booking_id = booking_id
        self._s = state
        self._steps = steps

    def show(
        self,
        details: str,
        *,
        status: BookingStatus | None = None,
        resource: SlotHold | None = None,
    ) -> None:
        """Set the status, the search attributes and the current details together."""
        s = self._s
        s.details = details
        if status is not None:
            if status != s.status:
                count_booking(status, s.reason)
            s.status = status
            current = workflow.info().typed_search_attributes
            updates: list[SearchAttributeUpdate[Any]] = []
            if current.get(BOOKING_STATUS) != status.value:
                updates.append(BOOKING_STATUS.value_set(status.value))
            if status == BookingStatus.AWAITING_PAYMENT and s.deadline is not None:
                updates.append(PAYMENT_DEADLINE.value_set(s.deadline))
            if resource is not None and current.get(RESOURCE_ID) != str(resource.resource_id):
                updates.append(RESOURCE_ID.value_set(str(resource.resource_id)))
            # The start already carries HELD and the resource: only real changes
            # cost a history event and a visibility write.
            if updates:
                workflow.upsert_search_attributes(updates)
        if s.pending:
            steps = (step.what for step in s.pending)
            next_try = s.next_retry_at if s.pending_rounds < PENDING_ROUNDS else None
            details += pending_words(steps, s.attention_note, next_try, self._booking_id)
        workflow.set_current_details(details)

    def refresh(self) -> None:
        """Show the current details again (the pending steps changed)."""
        self.show(self._s.details)

    async def attend(self, kind: AttentionKind, reason: str) -> None:
        """Put the booking in front of operators: search attribute, log event, alert row."""
        s = self._s
        s.attention_note = reason
        if kind not in s.attention:
            s.attention.add(kind)
            self._publish()
        workflow.logger.error("booking needs attention (%s): %s", kind, reason)
        try:
            # Best effort: when the database is what fails, the search attribute still says it.
            await self._steps.run(
                AlertActivities.open_alert,
                OpenAlertInput(booking_id=self._booking_id, kind=kind, details=reason),
                bound=ALERT_ROW_BOUND,
            )
        except ActivityFailure:
            workflow.logger.warning("the alert could not be stored")

    async def settle(self, kind: AttentionKind, note: str) -> None:
        """``kind`` no longer needs a person (its step went through): resolve its alert."""
        if kind not in self._s.attention:
            return
        self.drop(kind)
        try:
            await self._steps.run(
                AlertActivities.settle_alert,
                SettleAlertInput(booking_id=self._booking_id, kind=kind, note=note),
                bound=ALERT_ROW_BOUND,
            )
        except ActivityFailure:
            workflow.logger.warning("the alert could not be resolved; an operator can")

    def drop(self, kind: AttentionKind) -> None:
        """Take ``kind`` out of ``BookingAttention`` (an operator resolved its alert)."""
        if kind in self._s.attention:
            self._s.attention.discard(kind)
            self._publish()

    def _publish(self) -> None:
        workflow.upsert_search_attributes([BOOKING_ATTENTION.value_set(sorted(self._s.attention))])
