"""Steps that must happen: tried within a bound in line, then kept pending and retried.

A release, a refund, a confirmation's record or an audit row cannot be
skipped. :class:`MustHappen` runs one within the step bound; past it the step
is kept as pending (the booking carries its attention kind, operators see it,
the workflow stays open) and tried again in rounds (see
:mod:`workflows.policies`) or at once when an operator asks. Nothing here
waits without a bound, so a cancel never keeps the change lock for long.
Passed through the sandbox (docs/determinism.md).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow

from models.domain import AttentionKind
from models.payloads import RecordAuditInput
from workflows.attention import OperatorView
from workflows.policies import (
    PENDING_BACKOFF_PATCH,
    PENDING_RETRY_EVERY,
    PENDING_ROUNDS,
    STEP_ROUND_BOUND,
    ActivityFailure,
    failure_message,
    pending_retry_after,
)
from workflows.saga import PendingStep, SagaState
from workflows.steps import Step, Steps

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class MustHappen:
    """The booking's must-happen steps and their pending rounds.

    Args:
        booking_id: The booking.
        state: The workflow's state (the pending list and its rounds).
        steps: The runner.
        view: What operators see (alerts, details).
    """

    def __init__(
        self, booking_id: uuid.UUID, state: SagaState, steps: Steps, view: OperatorView
    ) -> None:
        self._booking_id = booking_id
        self._s = state
        self._steps = steps
        self._view = view

    async def run(
        self,
        step: Step[_In, _Out],
        request: _In,
        *,
        what: str,
        attention: AttentionKind = AttentionKind.STEP_FAILING,
        then: Callable[[_Out], Awaitable[None]] | None = None,
    ) -> _Out | None:
        """Run ``step`` within the step bound; past it, keep it pending and return None.

        ``then`` follows the pending step when a later round gets it through (it
        must not raise: a failure of its own would run the step again).
        """
        try:
            return await self._steps.must(step, request)
        except ActivityFailure as err:
            again = functools.partial(self._steps.run, step, request, bound=STEP_ROUND_BOUND)
            run = again if then is None else followed(again, then)
            await self.defer(PendingStep(what, attention, run), failure_message(err))
            return None

    async def audit(self, actor: str, action: str, reason: str | None, what: str) -> None:
        """The audit row of a request made of the booking (a step that must happen)."""
        await self.run(
            AuditActivities.record_audit,
            RecordAuditInput(
                booking_id=self._booking_id, actor=actor, action=action, reason=reason
            ),
            what=f"{what}'s audit row",
        )

    async def defer(self, step: PendingStep, error: str) -> None:
        """Keep ``step`` pending: its attention kind raised, retried in rounds."""
        s = self._s
        if not s.pending:
            s.next_retry_at = workflow.now() + self._retry_after()
        s.pending.append(step)
        await self._view.attend(step.attention, f"{step.what} is failing ({error})")
        self._view.refresh()

    def _retry_after(self) -> timedelta:
        """The wait before the next round: a backoff from seconds (fixed rounds before it)."""
        if workflow.patched(PENDING_BACKOFF_PATCH):
            return pending_retry_after(self._s.pending_rounds)
        return PENDING_RETRY_EVERY

    def next_round_at(self) -> datetime | None:
        """When pending steps are tried again by themselves (None: none, or rounds used up)."""
        s = self._s
        if not s.pending or s.pending_rounds >= PENDING_ROUNDS:
            return None
        return s.next_retry_at

    def due(self) -> bool:
        """Whether a round of the pending steps falls due now."""
        round_at = self.next_round_at()
        return round_at is not None and workflow.now() >= round_at

    async def retry_round(self) -> None:
        """One round over the pending steps, in order; what succeeds leaves the list."""
        s = self._s
        s.retry_pending_requested = False
        s.pending_rounds += 1
        s.next_retry_at = workflow.now() + self._retry_after()
        still: list[PendingStep] = []
        failing: dict[AttentionKind, str] = {}
        for step in s.pending:
            try:
                await step.run()
            except ActivityFailure as err:
                still.append(step)
                failing[step.attention] = f"{step.what} is failing ({failure_message(err)})"
        done = {step.attention for step in s.pending} - {step.attention for step in still}
        s.pending = still
        for kind in sorted(done):
            await self._view.settle(kind, "the pending step went through")
        for kind, reason in failing.items():
            # Opens the alert again if an operator resolved it while the step still fails.
            await self._view.attend(kind, reason)
        self._view.refresh()


def followed(
    run: Callable[[], Awaitable[_Out]], then: Callable[[_Out], Awaitable[None]]
) -> Callable[[], Awaitable[_Out]]:
    """``run``, then ``then`` with its result: a pending step and what its success owes."""

    async def both() -> _Out:
        result = await run()
        await then(result)
        return result

    return both
