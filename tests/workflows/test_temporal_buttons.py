"""Temporal's own buttons on a booking: a cancellation request is the booking's cancel.

The Temporal UI's "Request Cancellation" (and ``temporal workflow cancel``)
cancels the workflow's run; the booking must not close as CANCELED with its
money charged and its slot taken. The request runs the booking's own cancel
(compensations, policy refund, mail), or, when the booking cannot be
cancelled, is recorded and ignored with the reason in the current details.
"""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from models.payloads import BookingPolicy, PaymentSpec

from support.fakes import FakeSteps, captured, fake_worker, start_booking
from support.workflows import settled, until_details, until_state

SANDBOX = PaymentSpec(method="gateway", provider="sandbox")
POLICY = BookingPolicy(decision_timeout_seconds=5, notify_timeout_seconds=5, step_bound_seconds=5)


async def test_a_cancellation_request_cancels_a_confirmed_wallet_booking_with_its_refund(
    time_env: WorkflowEnvironment,
) -> None:
    """Refund and slot undone, audited, mailed; the run completes, never CANCELED."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, policy=POLICY)
        await until_state(handle, settled("CONFIRMED"))
        await handle.cancel()
        result = await handle.result()
        described = await handle.describe()

    assert result.status == "CANCELLED"
    assert result.reason == "CANCELLED_BY_OPERATOR"
    assert described.status == WorkflowExecutionStatus.COMPLETED
    for step in ("refund_wallet", "release_slot", "send_notification:booking_cancelled"):
        assert step in steps.calls, steps.calls
    assert "record_audit:booking.cancel_requested" in steps.calls


async def test_a_cancellation_request_cancels_an_unpaid_gateway_booking(
    time_env: WorkflowEnvironment,
) -> None:
    """AWAITING_PAYMENT: the order is cancelled and the slot released, at once."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, decision = await start_booking(
            time_env, queue, steps, payment=SANDBOX, policy=POLICY
        )
        await handle.cancel()
        cancelled = await until_state(handle, lambda s: s.status == "CANCELLED" and s.idle)

    assert decision.status == "AWAITING_PAYMENT"
    assert cancelled.reason == "CANCELLED_BY_OPERATOR"
    assert "cancel_order" in steps.calls
    assert "release_slot" in steps.calls


async def test_a_cancellation_request_on_a_booking_that_cannot_be_cancelled_is_recorded_and_ignored(
    time_env: WorkflowEnvironment,
) -> None:
    """A COMPLETED gateway booking keeps listening for late money; the details say why."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX, policy=POLICY)
        await handle.signal("payment_event", captured("evt_1", "pay_1"))
        await until_state(handle, settled("CONFIRMED"))
        await time_env.sleep(3 * 86400)  # Past the booked time: COMPLETED, late window open.
        await until_state(handle, lambda s: s.status == "COMPLETED" and s.idle)
        await handle.cancel()
        details = await until_details(handle, lambda words: "ignored" in words)
        described = await handle.describe()
        late = await until_state(handle, lambda s: s.idle)

    assert "a cancellation requested in Temporal was ignored: the booking is COMPLETED" in details
    assert described.status == WorkflowExecutionStatus.RUNNING
    assert late.status == "COMPLETED"
    assert "record_audit:booking.cancel_ignored" in steps.calls
    assert "refund_payment" not in steps.calls
