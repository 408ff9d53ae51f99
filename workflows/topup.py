"""A wallet top-up: order, wait for the capture until the window closes, credit once.

A top-up holds no inventory, so money that arrives after its window closed
is still credited (once); a second payment is given back through the
gateway, and one of the wrong amount is held until the window closes (its
genuine capture may still come), then given back, never more than the
top-up. The workflow listens for late money for the late-payment window,
then closes. An operator's refund (an update) takes the
amount back from the wallet and refunds it through the gateway.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow

from workflows.policies import (
    MUST_ATTEMPT_TIMEOUT,
    MUST_RETRY,
    STEP_TIMEOUT,
    ActivityFailure,
    failure_message,
    failure_reason,
    gateway_retry,
    refusal,
)
from workflows.steps import Step, Steps

with workflow.unsafe.imports_passed_through():
    from temporalio.common import RetryPolicy

    from activities.topups import TopupActivities
    from models.domain import TopupStatus
    from models.errors import ErrorCode
    from models.payloads import (
        CreateTopupOrderInput,
        CreditTopupInput,
        ExpireTopupInput,
        PaymentEvent,
        RefundInfo,
        RefundTopupInput,
        TopupDecision,
        TopupInput,
        TopupRefundRequest,
        TopupState,
    )


# A capture of the wrong amount waits for the genuine one and is refunded at most the
# top-up (before: it failed the top-up at once and was refunded what the event said).
TOPUP_MISMATCH_PATCH = "topup-mismatch-waits-for-genuine"
MISMATCHED = "amount or currency differs from the top-up"

_In = TypeVar("_In")
_Out = TypeVar("_Out")


@dataclass
class TopupSaga:
    """Everything a top-up's workflow knows."""

    status: TopupStatus = TopupStatus.PENDING
    decision: TopupDecision | None = None
    order_id: str | None = None
    credited_by: str | None = None
    refunded: bool = False
    # Captures of the wrong amount held while the top-up waits, and payments given back.
    suspects: dict[str, PaymentEvent] = field(default_factory=dict)
    given_back: set[str] = field(default_factory=set)
    events: deque[PaymentEvent] = field(default_factory=deque)
    seen: set[str] = field(default_factory=set)
    idle: bool = False


@workflow.defn
class TopupWorkflow:
    """One top-up, from its order to the end of its late-payment window."""

    @workflow.init
    def __init__(self, request: TopupInput) -> None:
        self._request = request
        self._s = TopupSaga()
        # A top-up waits for nobody: its must-happen steps are retried within a day.
        self._steps = Steps(
            step_bound=timedelta(days=1),
            decision_bound=timedelta(seconds=request.policy.decision_timeout_seconds),
            notify_bound=timedelta(seconds=request.policy.notify_timeout_seconds),
        )

    @workflow.run
    async def run(self, request: TopupInput) -> TopupStatus:
        """Order, wait for the capture (credit once) until the window closes, then listen."""
        s, policy = self._s, request.policy
        deadline = workflow.now() + timedelta(seconds=policy.hold_ttl_seconds)
        workflow.set_current_details(f"creating a {request.provider} order")
        try:
            order = await self._steps.run(
                TopupActivities.create_topup_order,
                CreateTopupOrderInput(
                    topup_id=request.topup_id,
                    provider=request.provider,
                    amount=request.amount,
                    currency=request.currency,
                    expires_at=deadline,
                    return_url=request.return_url,
                ),
                retry=gateway_retry(policy.gateway_max_attempts),
                attempt=STEP_TIMEOUT,
            )
        except ActivityFailure as err:
            reason = failure_reason(err).value
            await self._fail(reason)
            self._decide(TopupStatus.FAILED, reason)
            return s.status
        s.order_id = order.order_id
        self._decide(TopupStatus.AWAITING_PAYMENT)
        workflow.set_current_details(
            f"waiting for {request.provider} payment for order {order.order_id} until "
            f"{deadline:%Y-%m-%d %H:%M:%S} UTC"
        )
        await self._serve_until(deadline)
        if s.status == TopupStatus.AWAITING_PAYMENT and s.suspects:
            await self._refuse_suspects()
        if s.status == TopupStatus.AWAITING_PAYMENT:
            await self._run(
                TopupActivities.expire_topup, ExpireTopupInput(topup_id=request.topup_id)
            )
            s.status = TopupStatus.EXPIRED
            workflow.set_current_details("expired unpaid; a late payment is still credited")
        window = timedelta(seconds=policy.late_payment_window_seconds)
        await self._serve_until(workflow.now() + window)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return s.status

    async def _serve_until(self, until: datetime) -> None:
        """Handle payment events until ``until``; returns early once nothing is awaited."""
        s = self._s
        while True:
            while s.events:
                await self._on_event(s.events.popleft())
            remaining = until - workflow.now()
            if remaining <= timedelta(0):
                return
            s.idle = True
            try:
                await workflow.wait_condition(lambda: bool(s.events), timeout=remaining)
            except TimeoutError:
                return
            finally:
                s.idle = False

    async def _on_event(self, event: PaymentEvent) -> None:
        s, request = self._s, self._request
        if event.type != "payment.captured" or event.payment_id is None:
            return
        matches = (event.amount, (event.currency or "").upper()) == (
            request.amount,
            request.currency,
        )
        if workflow.patched(TOPUP_MISMATCH_PATCH):
            if event.payment_id in s.given_back or event.payment_id == s.credited_by:
                return
            if not matches:
                await self._on_mismatch(event)
                return
        if not matches:
            await self._give_back(event, MISMATCHED)
            if s.status == TopupStatus.AWAITING_PAYMENT:
                await self._fail(ErrorCode.PAYMENT_MISMATCH.value)
            return
        if s.credited_by is not None and s.credited_by != event.payment_id:
            await self._give_back(event, "second payment for a credited top-up")
            return
        await self._run(
            TopupActivities.credit_topup,
            CreditTopupInput(
                topup_id=request.topup_id,
                provider=event.provider,
                order_id=event.order_id or s.order_id,
                payment_id=event.payment_id,
                amount=request.amount,
                currency=request.currency,
            ),
        )
        s.credited_by, s.status = event.payment_id, TopupStatus.CREDITED
        workflow.set_current_details(f"credited by payment {event.payment_id}")
        # A mismatched report of this payment was its misreport; any other is given back.
        s.suspects.pop(event.payment_id, None)
        for suspect in list(s.suspects.values()):
            await self._give_back(suspect, "payment that did not match the top-up")
        s.suspects.clear()

    async def _on_mismatch(self, event: PaymentEvent) -> None:
        """Money of the wrong amount: held while the top-up waits, so the genuine one still counts.

        Once the top-up no longer waits, it is given back at once (at most the top-up's amount).
        """
        s, payment_id = self._s, event.payment_id or ""
        if s.status != TopupStatus.AWAITING_PAYMENT:
            await self._give_back(event, MISMATCHED)
            return
        if payment_id not in s.suspects:
            s.suspects[payment_id] = event
            workflow.set_current_details(
                f"waiting for {self._request.provider} payment for order {s.order_id}; "
                f"payment {payment_id} did not match the top-up and is refunded unless "
                "its genuine capture comes"
            )

    async def _refuse_suspects(self) -> None:
        """The window closed on payments that never matched: refund them, fail the top-up."""
        s = self._s
        for suspect in list(s.suspects.values()):
            await self._give_back(suspect, MISMATCHED)
        s.suspects.clear()
        await self._fail(ErrorCode.PAYMENT_MISMATCH.value)
        workflow.set_current_details("failed: only payments that did not match the top-up came")

    async def _fail(self, reason: str) -> None:
        """Record the top-up FAILED for ``reason`` (an ErrorCode's value)."""
        await self._run(
            TopupActivities.expire_topup,
            ExpireTopupInput(
                topup_id=self._request.topup_id, status=TopupStatus.FAILED, reason=reason
            ),
        )
        self._s.status = TopupStatus.FAILED

    async def _give_back(self, event: PaymentEvent, reason: str) -> None:
        assert event.payment_id is not None
        amount, currency = event.amount or 0, (event.currency or "").upper()
        if workflow.patched(TOPUP_MISMATCH_PATCH):
            # Never more than the top-up: a gateway cannot capture more against our order.
            if currency == self._request.currency:
                amount = min(amount, self._request.amount)
            self._s.given_back.add(event.payment_id)
        await self._run(
            TopupActivities.refund_topup,
            RefundTopupInput(
                topup_id=self._request.topup_id,
                provider=event.provider,
                order_id=event.order_id or self._s.order_id,
                payment_id=event.payment_id,
                amount=amount,
                currency=currency,
                reason=reason,
            ),
            retry=gateway_retry(2 * self._request.policy.gateway_max_attempts),
        )

    def _decide(self, status: TopupStatus, reason: str | None = None) -> None:
        self._s.status = status
        self._s.decision = TopupDecision(
            topup_id=self._request.topup_id, status=status, reason=reason
        )

    async def _run(
        self,
        step: Step[_In, _Out],
        request: _In,
        *,
        retry: RetryPolicy = MUST_RETRY,
    ) -> _Out:
        """A step that must happen, retried within a day (a top-up waits for nobody)."""
        attempt = MUST_ATTEMPT_TIMEOUT if retry is MUST_RETRY else STEP_TIMEOUT
        return await self._steps.run(
            step, request, bound=self._steps.step_bound, retry=retry, attempt=attempt
        )

    @workflow.update
    async def create(self) -> TopupDecision:
        """Answer the creating caller once the order exists (or could not be made)."""
        await workflow.wait_condition(lambda: self._s.decision is not None)
        assert self._s.decision is not None
        return self._s.decision

    @workflow.update
    async def refund(self, request: TopupRefundRequest) -> RefundInfo:
        """An operator refunds the credited top-up: from the wallet, then through the gateway."""
        s, topup = self._s, self._request
        assert s.credited_by is not None
        s.refunded = True
        try:
            outcome = await self._run(
                TopupActivities.refund_topup,
                RefundTopupInput(
                    topup_id=topup.topup_id,
                    provider=topup.provider,
                    order_id=s.order_id,
                    payment_id=s.credited_by,
                    amount=topup.amount,
                    currency=topup.currency,
                    reason=request.reason,
                    from_wallet=True,
                    actor=request.actor,
                ),
                retry=gateway_retry(2 * topup.policy.gateway_max_attempts),
            )
        except ActivityFailure as err:
            s.refunded = failure_reason(err) != ErrorCode.INSUFFICIENT_FUNDS
            raise refusal(failure_reason(err), failure_message(err)) from None
        return RefundInfo(
            amount=topup.amount,
            currency=topup.currency,
            method=topup.provider,
            status=outcome.status,
        )

    @refund.validator
    def _accept_refund(self, request: TopupRefundRequest) -> None:
        if self._s.credited_by is None:
            raise refusal(ErrorCode.INVALID_STATE, "only a credited top-up can be refunded")
        if self._s.refunded:
            raise refusal(ErrorCode.INVALID_STATE, "the top-up was refunded already")

    @workflow.signal
    def payment_event(self, event: PaymentEvent) -> None:
        """A verified gateway webhook for this top-up (duplicates are ignored)."""
        if event.event_id not in self._s.seen:
            self._s.seen.add(event.event_id)
            self._s.events.append(event)

    @workflow.query
    def state(self) -> TopupState:
        """The top-up as this workflow sees it now."""
        return TopupState(topup_id=self._request.topup_id, status=self._s.status, idle=self._s.idle)
