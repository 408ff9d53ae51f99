"""An owed refund that goes through on a later round is told to the customer once, with its amount.

The refund step fails past its bound when a booking is cancelled: the cancel
answers the refund OWED and the step is parked. When it goes through (here on
an operator's retry) the workflow queues one ``payment_refunded`` notification
saying so; the mail's words are pinned in ``tests/api/test_owed_refund_mail.py``.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from models.domain import NotificationKind, RefundStatus
from models.payloads import BookingPolicy, CancelInput, PaymentSpec, SendNotificationInput
from models.payloads.notifications import OWED_REFUND_DONE
from workflows.booking import BookingWorkflow

from support.fakes import FakeSteps, captured, fake_worker, start_booking
from support.workflows import settled, until_state

POLICY = BookingPolicy(
    decision_timeout_seconds=2,
    notify_timeout_seconds=2,
    step_bound_seconds=2,
    gateway_max_attempts=2,
)

# Well before the start: the policy refunds all of it.
AHEAD = timedelta(days=3)


def _refunded(steps: FakeSteps) -> list[SendNotificationInput]:
    return [n for n in steps.notifications if n.kind == NotificationKind.PAYMENT_REFUNDED]


async def _cancel_while_failing(
    env: WorkflowEnvironment, steps: FakeSteps, step: str, payment: PaymentSpec
) -> list[SendNotificationInput]:
    """Cancel while ``step`` fails, then let it through on an operator's retry."""
    steps.faults[step] = ConnectionResetError("connection reset by peer")
    worker, queue = fake_worker(env, steps)
    async with worker:
        handle, _ = await start_booking(env, queue, steps, payment=payment, policy=POLICY)
        if payment.method == "gateway":
            await handle.signal(BookingWorkflow.payment_event, captured("evt_1", "pay_1"))
        await until_state(handle, settled("CONFIRMED"))
        answer = await handle.execute_update(
            BookingWorkflow.cancel, CancelInput(actor="customer:c")
        )
        await until_state(handle, lambda s: bool(s.pending_steps) and s.idle, within=60)
        before = list(_refunded(steps))
        del steps.faults[step]
        await handle.signal(BookingWorkflow.retry_pending_steps)
        await until_state(handle, lambda s: not s.pending_steps)
        # To its end: whatever else the booking does, it says nothing more of this refund.
        result = await handle.result()

    assert result.status == "CANCELLED"
    assert answer.refund is not None
    assert answer.refund.status == RefundStatus.OWED
    assert before == [], "nothing is said to be refunded before it is"
    return _refunded(steps)


async def test_an_owed_wallet_refund_is_told_once_when_it_goes_through(
    time_env: WorkflowEnvironment,
) -> None:
    """One payment_refunded, PROCESSED, the whole ₹50.00 to the wallet, marked as the owed one."""
    steps = FakeSteps(starts_in=AHEAD)

    told = await _cancel_while_failing(
        time_env, steps, "refund_wallet", PaymentSpec(method="wallet")
    )

    [mail] = told
    assert mail.refund is not None
    assert (mail.refund.amount, mail.refund.currency) == (5_000, "INR")
    assert (mail.refund.method, mail.refund.status) == ("wallet", RefundStatus.PROCESSED)
    assert (mail.about or "").startswith(OWED_REFUND_DONE)
    assert len([c for c in steps.calls if c == "refund_wallet"]) == 1


async def test_an_owed_gateway_refund_is_told_once_with_what_the_gateway_gave_back(
    time_env: WorkflowEnvironment,
) -> None:
    """The amount told is the refund's outcome; the method is the gateway's."""
    steps = FakeSteps(starts_in=AHEAD, refund_left=3_000)
    sandbox = PaymentSpec(method="gateway", provider="sandbox")

    told = await _cancel_while_failing(time_env, steps, "refund_payment", sandbox)

    [mail] = told
    assert mail.refund is not None
    assert (mail.refund.amount, mail.refund.method) == (3_000, "sandbox")
    assert mail.refund.status == RefundStatus.PROCESSED
    assert (mail.about or "").startswith(OWED_REFUND_DONE)


async def test_an_owed_gateway_refund_with_nothing_left_to_give_back_is_not_told(
    time_env: WorkflowEnvironment,
) -> None:
    """An operator refunded it meanwhile: the retry gives back 0, and no "₹0.00 refunded" mail."""
    steps = FakeSteps(starts_in=AHEAD, refund_left=0)
    sandbox = PaymentSpec(method="gateway", provider="sandbox")

    told = await _cancel_while_failing(time_env, steps, "refund_payment", sandbox)

    assert told == []
    assert len(steps.refunds) == 1
