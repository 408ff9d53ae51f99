"""The one step runner: an activity run within its time bound, for every workflow.

The booking, ops and top-up workflows run their activities through
:class:`Steps`, so an attempt's timeout, a step's overall bound and its retry
policy are said in one place per call and nowhere else. Passed through the
sandbox (see docs/determinism.md): it holds no state between workflows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from models.domain import NotificationStatus
from models.payloads import BookingPolicy, SendNotificationInput
from workflows.policies import (
    DECISION_ATTEMPT_TIMEOUT,
    DECISION_RETRY,
    MUST_ATTEMPT_TIMEOUT,
    MUST_RETRY,
    NOTIFY_RETRY,
    STEP_TIMEOUT,
    ActivityFailure,
    within,
)

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities

_In = TypeVar("_In")
_Out = TypeVar("_Out")

Step = Callable[[Any, _In], Awaitable[_Out]]


class Steps:
    """Runs a workflow's activities, each within the bound its kind of step allows.

    Args:
        step_bound: How long a step that must happen is tried in line.
        decision_bound: How long a step the create call waits for is tried.
        notify_bound: How long one notification hand-off is tried.
    """

    def __init__(
        self, *, step_bound: timedelta, decision_bound: timedelta, notify_bound: timedelta
    ) -> None:
        self.step_bound = step_bound
        self.decision_bound = decision_bound
        self.notify_bound = notify_bound

    @classmethod
    def for_policy(cls, policy: BookingPolicy) -> Steps:
        """The runner with a booking policy's bounds."""
        return cls(
            step_bound=timedelta(seconds=policy.step_bound_seconds),
            decision_bound=timedelta(seconds=policy.decision_timeout_seconds),
            notify_bound=timedelta(seconds=policy.notify_timeout_seconds),
        )

    async def run(
        self,
        step: Step[_In, _Out],
        request: _In,
        *,
        bound: timedelta | None = None,
        retry: RetryPolicy = MUST_RETRY,
        attempt: timedelta = MUST_ATTEMPT_TIMEOUT,
    ) -> _Out:
        """Run ``step`` on the task queue; each attempt within ``attempt``, all within ``bound``.

        ``bound=None`` leaves the step bounded by its retry policy alone (a
        gateway call whose attempts are counted).
        """
        return await workflow.execute_activity_method(
            step,
            request,
            start_to_close_timeout=attempt,
            schedule_to_close_timeout=bound,
            retry_policy=retry,
        )

    async def best_effort(
        self, step: Step[_In, object], request: _In, *, retry: RetryPolicy, failed: str
    ) -> None:
        """A compensation at a third party that may fail without holding the booking up."""
        try:
            await self.run(step, request, retry=retry, attempt=STEP_TIMEOUT)
        except ActivityFailure:
            workflow.logger.warning(failed)

    async def must(self, step: Step[_In, _Out], request: _In) -> _Out:
        """Run a step that must happen within the step bound (raises past it)."""
        return await self.run(step, request, bound=self.step_bound)

    async def decide(self, step: Step[_In, _Out], request: _In) -> _Out:
        """Run a step the create call waits for: local (no task-queue round trip), bounded."""
        return await workflow.execute_local_activity_method(
            step,
            request,
            start_to_close_timeout=DECISION_ATTEMPT_TIMEOUT,
            schedule_to_close_timeout=self.decision_bound,
            retry_policy=within(DECISION_RETRY, self.decision_bound),
        )

    async def decide_remote(self, step: Step[_In, _Out], request: _In) -> _Out:
        """As :meth:`decide`, on the task queue (a step whose caller waits, run by any worker)."""
        return await self.run(
            step,
            request,
            bound=self.decision_bound,
            retry=within(DECISION_RETRY, self.decision_bound),
            attempt=DECISION_ATTEMPT_TIMEOUT,
        )

    async def notify(self, request: SendNotificationInput, *, local: bool) -> NotificationStatus:
        """Hand one notification to the outbox, within the notify bound.

        The booking workflow sends locally: one SMTP hand-off needs no
        task-queue round trip or workflow task of its own. The outbox row
        bounds the delivery attempts; this bound covers the outbox itself
        failing (the database down).

        Raises:
            ActivityError: The hand-off failed within its bound (the caller decides what follows).
        """
        bound = self.notify_bound
        attempt, retry = STEP_TIMEOUT, within(NOTIFY_RETRY, bound)
        if local:
            sent = await workflow.execute_local_activity_method(
                NotificationActivities.send_notification,
                request,
                start_to_close_timeout=attempt,
                schedule_to_close_timeout=bound,
                retry_policy=retry,
            )
        else:
            sent = await workflow.execute_activity_method(
                NotificationActivities.send_notification,
                request,
                start_to_close_timeout=attempt,
                schedule_to_close_timeout=bound,
                retry_policy=retry,
            )
        return sent.status
