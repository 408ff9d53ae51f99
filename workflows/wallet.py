"""The wallet payment: the hold and the debit decided in one step, before the create call answers.

Saga version 2 decides the hold, the debit and (for an offline meeting
provider) the link in one local step, so the caller hears CONFIRMED or the
refusal with the slot already released. Saga version 1, kept for the
workflows started before it (docs/determinism.md), holds first and debits
in a step of its own. Passed through the sandbox.
"""

from __future__ import annotations

from temporalio import workflow

from models.domain import BookingStatus, MeetingStatus
from models.payloads import BookingInput, ChargeWalletInput, CreateResult
from workflows.attention import OperatorView
from workflows.changes import Finish
from workflows.policies import (
    ActivityFailure,
    failure_reason,
    is_business_failure,
    refused_by_charge,
)
from workflows.saga import SagaState, Undo, UndoKind, hold_request
from workflows.steps import Steps
from workflows.words import booking_words, price_words, ready_words

with workflow.unsafe.imports_passed_through():
    from activities.decision import DecisionActivities
    from activities.wallet import WalletActivities


class WalletPayment:
    """A booking paid from the customer's wallet.

    Args:
        request: The booking's start input.
        state: The workflow's state.
        steps: The runner.
        view: What operators see.
        finish: The workflow's unwind (a refusal).
    """

    def __init__(
        self,
        request: BookingInput,
        state: SagaState,
        steps: Steps,
        view: OperatorView,
        *,
        finish: Finish,
    ) -> None:
        self._request = request
        self._s = state
        self._steps = steps
        self._view = view
        self._finish = finish

    async def decide(self) -> bool:
        """Hold, debit and (offline provider) meeting link in one step: the create call's answer.

        With the link made there, the step also tries the confirmation mail;
        ``s.confirmation`` keeps how that went, and run() sends it when it did not.

        Both undos are pushed first: an attempt that timed out may have held,
        and debited. The refund's undo also voids a debit that never happened
        (see refund_wallet). A refusal says which half refused: a refused hold
        took nothing and nobody is told; a refused debit leaves the hold to
        release, and the customer is told.
        """
        s = self._s
        self._view.show("placing a hold and charging the wallet")
        s.undo += [Undo(UndoKind.RELEASE_SLOT), Undo(UndoKind.REFUND_WALLET)]
        try:
            decision = await self._steps.decide(
                DecisionActivities.decide_wallet,
                hold_request(self._request, workflow.info().workflow_id),
            )
        except ActivityFailure as err:
            after_hold = refused_by_charge(err)
            if is_business_failure(err):
                s.undo.pop()  # The refused debit took nothing.
                if not after_hold:
                    s.undo.pop()  # Nor did the refused hold.
            # Undecided failures (retries exhausted, a defect) are heard by the caller.
            await self._finish(BookingStatus.FAILED, failure_reason(err), notify=after_hold)
            return False
        s.hold, s.confirmation = decision.hold, decision.confirmation
        s.decision = CreateResult(booking_id=s.hold.booking_id, status=BookingStatus.CONFIRMED)
        details = "confirmed"
        if decision.meeting is not None:
            s.undo.append(Undo(UndoKind.CANCEL_MEETING))
            s.meeting = MeetingStatus.READY
            details = ready_words(s.hold)
        self._view.show(details, status=BookingStatus.CONFIRMED, resource=s.hold)
        return True

    async def charge_after_hold(self) -> bool:
        """Saga version 1: debit the wallet after the hold, as a step of its own."""
        s, hold = self._s, self._s.current_hold()
        self._view.show(f"charging {price_words(hold)} to the wallet for {booking_words(hold)}")
        # Pushed first: a debit attempt that timed out may still have committed. Its
        # undo also voids a debit that has not happened (see refund_wallet).
        s.undo.append(Undo(UndoKind.REFUND_WALLET))
        charge = ChargeWalletInput(
            booking_id=hold.booking_id,
            customer_id=self._request.customer_id,
            amount=hold.amount,
            currency=hold.currency,
        )
        try:
            await self._steps.decide(WalletActivities.charge_wallet, charge)
        except ActivityFailure as err:
            if is_business_failure(err):
                s.undo.pop()
            await self._finish(BookingStatus.FAILED, failure_reason(err))
            return False
        self._view.show("confirmed", status=BookingStatus.CONFIRMED)
        s.decision = CreateResult(booking_id=hold.booking_id, status=BookingStatus.CONFIRMED)
        return True
