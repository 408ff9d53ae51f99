"""The gateway path on the time-skipping server: payment window, late money, mismatches."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from models.payloads import BookingPolicy, CancelInput, PaymentEvent, PaymentSpec
from models.search_attributes import BOOKING_ATTENTION
from workflows.booking import BookingWorkflow

from support.fakes import FakeSteps, captured, failed, fake_worker, start_booking
from support.histories import record_history
from support.workflows import current_details, until_state

SANDBOX = PaymentSpec(method="gateway", provider="sandbox")
TTL = 600


async def test_unpaid_booking_expires_exactly_at_its_deadline(
    time_env: WorkflowEnvironment,
) -> None:
    """No payment: nothing before hold_expires_at, then release as EXPIRED at that instant."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        started = await time_env.get_current_time()
        handle, created = await start_booking(
            time_env, queue, steps, payment=SANDBOX, policy=BookingPolicy(hold_ttl_seconds=TTL)
        )
        await time_env.sleep(timedelta(seconds=TTL - 5))
        released_early = steps.released.is_set()
        await time_env.sleep(timedelta(seconds=10))
        await asyncio.wait_for(steps.released.wait(), timeout=30)
        # Finish the run (its late-payment window is skipped too): an open
        # workflow without a worker would stall time skipping for later tests.
        result = await handle.result()
        await record_history(handle, "gateway_expired")

    assert created.status == "AWAITING_PAYMENT"
    assert result.status == "EXPIRED"
    assert released_early is False
    assert [(r.status, r.reason) for r in steps.releases] == [("EXPIRED", "PAYMENT_WINDOW_EXPIRED")]
    expired_at = steps.release_times[0] - started
    assert timedelta(seconds=TTL) <= expired_at < timedelta(seconds=TTL + 3)
    assert "cancel_order" in steps.calls
    assert "send_notification:booking_expired" in steps.calls


@pytest.mark.parametrize(
    "late_by", [timedelta(seconds=1), timedelta(hours=1), timedelta(days=2)], ids=str
)
async def test_success_after_expiry_is_refunded_exactly_once(
    time_env: WorkflowEnvironment, late_by: timedelta
) -> None:
    """A capture after EXPIRED, delivered twice, is refunded once and never confirms."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(
            time_env, queue, steps, payment=SANDBOX, policy=BookingPolicy(hold_ttl_seconds=TTL)
        )
        await time_env.sleep(timedelta(seconds=TTL + 1))
        await asyncio.wait_for(steps.released.wait(), timeout=30)
        await time_env.sleep(late_by)
        await handle.signal(BookingWorkflow.payment_event, captured("evt_late", "pay_late"))
        await handle.signal(BookingWorkflow.payment_event, captured("evt_late", "pay_late"))
        result = await handle.result()

    assert result.status == "EXPIRED"
    assert [(r.payment_id, r.amount) for r in steps.refunds] == [("pay_late", 5_000)]
    assert "confirm_payment" not in steps.calls
    assert "send_notification:payment_refunded" in steps.calls


async def test_failed_attempt_then_success_confirms(time_env: WorkflowEnvironment) -> None:
    """A declined attempt keeps the window open; the customer's retry confirms the booking."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        await handle.signal(BookingWorkflow.payment_event, failed("evt_1", "pay_1"))
        await handle.signal(BookingWorkflow.payment_event, captured("evt_2", "pay_2"))
        result = await handle.result()
        await record_history(handle, "gateway_failed_then_confirmed")

    assert result.status == "COMPLETED"
    assert steps.calls.count("confirm_payment") == 1
    assert steps.refunds == []
    assert [r.status for r in steps.releases] == ["COMPLETED"]  # never released early


async def test_second_payment_for_a_confirmed_booking_is_refunded(
    time_env: WorkflowEnvironment,
) -> None:
    """Paid twice (two payments): the booking keeps the first, the second is refunded once."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        for event in (
            captured("evt_1", "pay_1"),
            captured("evt_2", "pay_2"),
            captured("evt_1", "pay_1"),
        ):
            await handle.signal(BookingWorkflow.payment_event, event)
        await asyncio.wait_for(steps.refunded.wait(), timeout=30)
        result = await handle.result()

    assert result.status == "COMPLETED"
    assert [r.payment_id for r in steps.refunds] == ["pay_2"]
    assert steps.calls.count("confirm_payment") == 1


async def test_amount_mismatch_never_confirms_refunds_and_flags(
    time_env: WorkflowEnvironment,
) -> None:
    """A capture for another amount is refunded, flagged for operators, and fails the booking."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        await handle.signal(BookingWorkflow.payment_event, captured("evt_1", "pay_1", amount=4_999))
        result = await handle.result()

    assert (result.status, result.reason) == ("FAILED", "PAYMENT_MISMATCH")
    assert "confirm_payment" not in steps.calls
    assert [r.payment_id for r in steps.refunds] == ["pay_1"]
    assert len(steps.flags) == 1
    assert "did not match" in steps.flags[0]
    assert [(r.status, r.reason) for r in steps.releases] == [("FAILED", "PAYMENT_MISMATCH")]


async def test_a_capture_claiming_more_than_the_order_is_refunded_at_most_the_order(
    time_env: WorkflowEnvironment,
) -> None:
    """6,000 claimed for a 5,000 order: never confirmed, and the refund asks for 5,000."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        await handle.signal(BookingWorkflow.payment_event, captured("evt_1", "pay_1", amount=6_000))
        result = await handle.result()

    assert (result.status, result.reason) == ("FAILED", "PAYMENT_MISMATCH")
    assert "confirm_payment" not in steps.calls
    assert [(r.payment_id, r.amount) for r in steps.refunds] == [("pay_1", 5_000)]
    assert "of 6000 INR did not match the order (5000 INR)" in steps.flags[0]


async def test_a_mismatched_capture_does_not_block_the_genuine_event_for_its_payment(
    time_env: WorkflowEnvironment,
) -> None:
    """6,000 claimed for pay_1 first, then pay_1's genuine 5,000: confirmed, nothing refunded.

    The mismatch is flagged for operators and the booking keeps waiting; the
    genuine event for the same payment confirms it.
    """
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        await handle.signal(BookingWorkflow.payment_event, captured("evt_1", "pay_1", amount=6_000))
        waiting = await until_state(handle, lambda s: bool(s.attention) and s.idle)
        details = await current_details(handle)
        await handle.signal(BookingWorkflow.payment_event, captured("evt_2", "pay_1"))
        confirmed = await until_state(handle, lambda s: s.status == "CONFIRMED" and s.idle)
        result = await handle.result()
        await record_history(handle, "gateway_mismatch_then_genuine")

    assert (waiting.status, waiting.attention) == ("AWAITING_PAYMENT", ["PAYMENT_MISMATCH"])
    assert "pay_1 did not match the order" in details
    assert confirmed.status == "CONFIRMED"
    assert result.status == "COMPLETED"
    assert steps.calls.count("confirm_payment") == 1
    assert steps.refunds == []
    assert len(steps.flags) == 1
    assert "waits for the genuine capture" in steps.flags[0]


async def test_a_mismatched_payment_is_refunded_once_another_payment_confirms(
    time_env: WorkflowEnvironment,
) -> None:
    """4,999 by pay_1, then 5,000 by pay_2: confirmed by pay_2, pay_1 refunded its 4,999 once."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        for event in (
            captured("evt_1", "pay_1", amount=4_999),
            captured("evt_2", "pay_2"),
            captured("evt_3", "pay_1", amount=4_999),
        ):
            await handle.signal(BookingWorkflow.payment_event, event)
        await asyncio.wait_for(steps.refunded.wait(), timeout=30)
        result = await handle.result()

    assert result.status == "COMPLETED"
    assert steps.calls.count("confirm_payment") == 1
    assert [(r.payment_id, r.amount) for r in steps.refunds] == [("pay_1", 4_999)]
    assert "send_notification:payment_refunded" in steps.calls


async def test_a_mismatched_payment_is_refunded_when_the_booking_is_cancelled(
    time_env: WorkflowEnvironment,
) -> None:
    """The customer cancels while only a mismatched capture came: it is refunded, once."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        await handle.signal(BookingWorkflow.payment_event, captured("evt_1", "pay_1", amount=6_000))
        await until_state(handle, lambda s: bool(s.attention) and s.idle)
        cancelled = await handle.execute_update(
            BookingWorkflow.cancel, CancelInput(actor="customer:c")
        )
        await handle.signal(BookingWorkflow.payment_event, captured("evt_2", "pay_1"))
        result = await handle.result()

    assert cancelled.status == "CANCELLED"
    assert result.status == "CANCELLED"
    assert "confirm_payment" not in steps.calls
    assert [(r.payment_id, r.amount) for r in steps.refunds] == [("pay_1", 5_000)]


async def test_gateway_down_past_the_bound_releases_and_answers_unavailable(
    time_env: WorkflowEnvironment,
) -> None:
    """Order creation keeps failing: retried to the bound, then FAILED and the slot released."""
    steps = FakeSteps(order_error=ApplicationError("503 from gateway", type="GATEWAY_UNAVAILABLE"))
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, created = await start_booking(
            time_env, queue, steps, payment=SANDBOX, policy=BookingPolicy(gateway_max_attempts=2)
        )
        result = await handle.result()

    assert (created.status, created.reason) == ("FAILED", "PAYMENT_PROVIDER_UNAVAILABLE")
    assert steps.calls.count("create_order") == 2
    assert [(r.status, r.reason) for r in steps.releases] == [
        ("FAILED", "PAYMENT_PROVIDER_UNAVAILABLE")
    ]
    assert result.status == "FAILED"


def refund_processed(event_id: str, payment_id: str) -> PaymentEvent:
    """A refund.processed event."""
    return PaymentEvent(
        provider="sandbox",
        event_id=event_id,
        type="refund.processed",
        order_id="order_1",
        payment_id=payment_id,
    )


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
async def test_events_in_any_order_reach_the_same_final_state(
    time_env: WorkflowEnvironment, order: tuple[int, ...]
) -> None:
    """A decline, a capture and a second capture in any order: CONFIRMED, one payment kept.

    The other payment is refunded once, and the decline is ignored.
    """
    steps = FakeSteps()
    events = [failed("evt_f", "pay_0"), captured("evt_a", "pay_a"), captured("evt_b", "pay_b")]
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        for index in order:
            await handle.signal(BookingWorkflow.payment_event, events[index])
        await handle.signal(BookingWorkflow.payment_event, refund_processed("evt_r", "pay_b"))
        result = await handle.result()

    assert result.status == "COMPLETED"
    assert steps.calls.count("confirm_payment") == 1
    assert len(steps.refunds) == 1
    assert steps.refunds[0].payment_id in {"pay_a", "pay_b"}
    assert [r.status for r in steps.releases] == ["COMPLETED"]  # never released early


async def test_refund_that_keeps_failing_is_pending_and_owed_until_an_operator_retries(
    time_env: WorkflowEnvironment,
) -> None:
    """The gateway refuses refunds: bounded, then pending (REFUND_FAILING); a retry settles it."""
    steps = FakeSteps(refund_error=ApplicationError("503 from gateway", type="GATEWAY_UNAVAILABLE"))
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(
            time_env, queue, steps, payment=SANDBOX, policy=BookingPolicy(gateway_max_attempts=1)
        )
        for event in (captured("evt_1", "pay_1"), captured("evt_2", "pay_2")):
            await handle.signal(BookingWorkflow.payment_event, event)
        stuck = await until_state(handle, lambda s: bool(s.pending_steps))
        described = await handle.describe()

        steps.refund_error = None  # The gateway is back; the operator asks for a retry.
        await handle.signal(BookingWorkflow.retry_pending_steps)
        settled_state = await until_state(handle, lambda s: not s.pending_steps)
        result = await handle.result()

    assert stuck.attention == ["REFUND_FAILING"]
    assert "pay_2" in stuck.pending_steps[0]
    assert "owed" in stuck.pending_steps[0]
    assert described.typed_search_attributes.get(BOOKING_ATTENTION) == ["REFUND_FAILING"]
    assert len(steps.flags) == 1
    assert "pay_2" in steps.flags[0]
    # Two attempts within the bound, then one on the operator's signal: one refund.
    assert steps.calls.count("refund_payment") == 3
    assert [(r.payment_id, r.amount) for r in steps.refunds] == [("pay_2", 5_000)]
    assert settled_state.attention == []
    assert result.status == "COMPLETED"
