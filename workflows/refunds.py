"""Money back: a booking's refund the way it was paid, to the wallet or through the gateway.

:class:`Refunds` gives back an amount the way an entry of the compensation
stack took it, and says what happened in a :class:`RefundInfo` (PROCESSED,
PENDING at the gateway, or OWED while its step is retried); when an OWED
refund's step later goes through, the customer gets a mail saying so. The activities
never give back more than is left; each refund is keyed by the booking and
what asked for it (a cancel, a move, an operator's request). Passed through
the sandbox (docs/determinism.md).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable

from temporalio import workflow

from models.domain import AttentionKind, BookingStatus, NotificationKind, RefundStatus
from models.payloads import (
    BookingInput,
    PaymentEvent,
    RefundInfo,
    RefundPaymentInput,
    RefundPaymentResult,
    RefundWalletInput,
)
from models.payloads.notifications import OWED_REFUND_DONE
from models.refund_policy import refund_amount
from workflows.metrics import count_refund
from workflows.notices import Notices
from workflows.pending import MustHappen, followed
from workflows.policies import (
    GATEWAY_STEP_BOUND,
    OWED_REFUND_MAIL_PATCH,
    STEP_ROUND_BOUND,
    STEP_TIMEOUT,
    ActivityFailure,
    failure_message,
    failure_reason,
    gateway_retry,
)
from workflows.saga import PendingStep, SagaState, Undo, UndoKind, provider_of
from workflows.steps import Steps

with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities
    from activities.wallet import WalletActivities


class Refunds:
    """Gives a booking's money back and records what became of it.

    Args:
        request: The booking's start input (id, provider, policy).
        state: The workflow's state (the hold, the order).
        steps: The runner.
        must: The must-happen steps (a refund that fails is kept pending).
        notices: The customer's notifications (an owed refund that went through).
    """

    def __init__(
        self,
        request: BookingInput,
        state: SagaState,
        steps: Steps,
        must: MustHappen,
        notices: Notices,
    ) -> None:
        self._request = request
        self._s = state
        self._steps = steps
        self._must = must
        self._notices = notices

    async def on_ending(
        self, paid_by: Undo, status: BookingStatus, reason: str
    ) -> RefundInfo | None:
        """The refund the booking's ending owes: per the policy on a cancel, else all of it.

        A capture that did not match the order (a suspect) is always given back whole.

        A wallet debit whose decision failed undecided (no hold was recorded)
        is given back whole, or voided (see refund_wallet); the customer was
        told nothing, so no refund is reported.
        """
        s = self._s
        if paid_by.kind == UndoKind.REFUND_WALLET and s.hold is None:
            await self._must.run(
                WalletActivities.refund_wallet,
                RefundWalletInput(booking_id=self._request.booking_id, amount=None, reason=reason),
                what="voiding the undecided wallet debit",
                attention=AttentionKind.REFUND_FAILING,
            )
            return None
        amount = paid_by.amount if paid_by.kind == UndoKind.REFUND_CAPTURE else None
        # A capture that never matched the order paid for nothing: all of it goes back.
        never_paid = paid_by.kind == UndoKind.REFUND_CAPTURE and paid_by.payment_id in s.suspects
        if status == BookingStatus.CANCELLED and not never_paid:
            assert s.hold is not None
            amount = refund_amount(
                s.hold.refund_policy,
                captured=s.hold.amount,
                starts_at=s.hold.starts_at,
                cancelled_at=workflow.now(),
            )
            if amount <= 0:
                return None
        return await self.give_back(amount, reason, paid_by=paid_by)

    async def give_back(
        self,
        amount: int | None,
        reason: str,
        *,
        paid_by: Undo,
        move: int | None = None,
        ops: uuid.UUID | None = None,
    ) -> RefundInfo:
        """Give ``amount`` back the way ``paid_by`` took it (None: all of it).

        ``move`` or ``ops`` (an operator's request) tell this refund from the
        booking's own.
        """
        assert self._s.hold is not None
        hold = self._s.hold
        if paid_by.kind != UndoKind.REFUND_WALLET:
            given = paid_by.amount if amount is None else amount
            return await self.refund_capture(paid_by, given, reason, move=move, ops=ops)

        async def owed_done(refunded: int) -> None:
            if refunded > 0:
                done = RefundInfo(
                    amount=refunded,
                    currency=hold.currency,
                    method="wallet",
                    status=RefundStatus.PROCESSED,
                )
                await self._tell_owed_done(done, f"wallet:{reason}:{move}:{ops}")

        refunded = await self._must.run(
            WalletActivities.refund_wallet,
            RefundWalletInput(
                booking_id=hold.booking_id, amount=amount, reason=reason, move=move, ops=ops
            ),
            what=f"the wallet refund ({reason})",
            attention=AttentionKind.REFUND_FAILING,
            then=owed_done,
        )
        if refunded is None:  # Pending: owed until its retry goes through.
            owed = hold.amount if amount is None else amount
            info = RefundInfo(
                amount=owed, currency=hold.currency, method="wallet", status=RefundStatus.OWED
            )
        else:
            info = RefundInfo(
                amount=refunded,
                currency=hold.currency,
                method="wallet",
                status=RefundStatus.PROCESSED,
            )
        count_refund(info)
        return info

    async def refund_capture(
        self,
        capture: Undo,
        amount: int,
        reason: str,
        *,
        move: int | None = None,
        ops: uuid.UUID | None = None,
    ) -> RefundInfo:
        """Refund ``amount`` of a gateway capture; past the step bound it is owed and retried."""
        assert capture.payment_id is not None
        provider = provider_of(self._request)
        info = RefundInfo(
            amount=amount, currency=capture.currency, method=provider, status=RefundStatus.OWED
        )
        refund = RefundPaymentInput(
            booking_id=self._request.booking_id,
            provider=provider,
            order_id=capture.order_id,
            payment_id=capture.payment_id,
            amount=amount,
            currency=capture.currency,
            reason=reason,
            move=move,
            ops=ops,
        )
        retry = gateway_retry(2 * self._request.policy.gateway_max_attempts)
        run = functools.partial(
            self._steps.run,
            PaymentActivities.refund_payment,
            refund,
            retry=retry,
            attempt=STEP_TIMEOUT,
        )
        try:
            # Bounded like every must-happen step: a cancel may be waiting (and its lock).
            outcome = await run(bound=min(self._steps.step_bound, GATEWAY_STEP_BOUND))
        except ActivityFailure as err:
            # The refund request is keyed: it is tried again in rounds, and what is
            # owed stays visible to operators until it goes through.
            what = (
                f"the refund of {amount} {capture.currency} for payment {capture.payment_id}"
                " (the money is owed to the customer)"
            )

            async def again() -> RefundPaymentResult:
                return await run(bound=STEP_ROUND_BOUND)

            async def owed_done(outcome: RefundPaymentResult) -> None:
                # Nothing left to give back (an operator refunded it meanwhile): nothing to say.
                if outcome.amount > 0:
                    done = info.model_copy(
                        update={"status": outcome.status, "amount": outcome.amount}
                    )
                    await self._tell_owed_done(done, f"{capture.payment_id}:{move}:{ops}")

            retried: Callable[[], Awaitable[RefundPaymentResult]] = followed(again, owed_done)
            await self._must.defer(
                PendingStep(what, AttentionKind.REFUND_FAILING, retried),
                f"{failure_reason(err).value}: {failure_message(err)}",
            )
            count_refund(info)
            return info
        info = info.model_copy(update={"status": outcome.status, "amount": outcome.amount})
        count_refund(info)
        return info

    async def _tell_owed_done(self, refund: RefundInfo, about: str) -> None:
        """Mail the customer, who was told the refund is owed, that it has gone through."""
        # Histories recorded before this mail replay without it.
        if workflow.patched(OWED_REFUND_MAIL_PATCH):
            await self._notices.send(
                NotificationKind.PAYMENT_REFUNDED, about=OWED_REFUND_DONE + about, refund=refund
            )

    def capture_of(self, event: PaymentEvent) -> Undo:
        """The compensation-stack entry that refunds ``event``'s capture.

        Its amount comes from our own books where the event says more: a
        gateway cannot capture more against our order than the order, so a
        refund is never asked for more than the order (an event that claims
        more is refunded the order's amount, and flagged as a mismatch).
        """
        assert event.payment_id is not None
        currency = (event.currency or "").upper()
        amount = event.amount or 0
        hold = self._s.hold
        if hold is not None and currency == hold.currency:
            amount = min(amount, hold.amount)
        return Undo(
            UndoKind.REFUND_CAPTURE,
            payment_id=event.payment_id,
            order_id=event.order_id or self._s.order_id,
            amount=amount,
            currency=currency,
        )
