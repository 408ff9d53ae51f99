"""Cancel and reschedule at the workflow level, with every activity faked.

These pin the saga's compensation stack: a change unwinds exactly what the
booking committed, in reverse, and keys each repeated step on its own.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.db import SessionFactory
from core.settings import Settings
from models.payloads import CancelInput, PaymentSpec, RescheduleInput
from worker import engine_activities
from workflows.booking import BookingWorkflow

from support.engine import activity_name
from support.fakes import FakeSteps, captured, fake_worker, start_booking
from support.histories import record_history
from support.workflows import settled, until_state

SANDBOX = PaymentSpec(method="gateway", provider="sandbox")


def _after(calls: list[str], marker: str) -> list[str]:
    return calls[calls.index(marker) :]


async def test_cancel_of_a_confirmed_wallet_booking_unwinds_in_reverse(
    time_env: WorkflowEnvironment,
) -> None:
    """Cancel: audit, then the undo stack in reverse (meeting, refund per policy, slot), mail."""
    steps = FakeSteps(amount=5_000)
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps)
        await until_state(handle, settled("CONFIRMED"))
        answer = await handle.execute_update(
            BookingWorkflow.cancel, CancelInput(actor="customer:c")
        )
        result = await handle.result()
        await record_history(handle, "wallet_cancelled_faked")

    assert _after(steps.calls, "record_audit:booking.cancel_requested") == [
        "record_audit:booking.cancel_requested",
        "cancel_meeting",
        "refund_wallet",
        "release_slot",
        "send_notification:booking_cancelled",
    ]
    # The slot starts a day after the booking; the cancel is inside the 24 h notice: 50 %.
    assert [(r.amount, r.move, r.reason) for r in steps.wallet_refunds] == [
        (2_500, None, "cancellation")
    ]
    assert [(r.status, r.reason) for r in steps.releases] == [
        ("CANCELLED", "CANCELLED_BY_CUSTOMER")
    ]
    assert answer.refund is not None
    assert (answer.status, answer.refund.amount, answer.refund.method) == (
        "CANCELLED",
        2_500,
        "wallet",
    )
    assert result.status == "CANCELLED"


async def test_cancel_while_awaiting_payment_cancels_the_order_then_frees_the_slot(
    time_env: WorkflowEnvironment,
) -> None:
    """An unpaid gateway booking's undo stack is the order and the hold: nothing to refund."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, created = await start_booking(time_env, queue, steps, payment=SANDBOX)
        answer = await handle.execute_update(
            BookingWorkflow.cancel, CancelInput(actor="operator:o", by_operator=True)
        )
        state = await handle.query(BookingWorkflow.state)
        # Every test ends its workflows: an open one would stall the server's time skipping.
        await handle.result()

    assert created.status == "AWAITING_PAYMENT"
    assert _after(steps.calls, "record_audit:booking.cancel_requested") == [
        "record_audit:booking.cancel_requested",
        "cancel_order",
        "release_slot",
        "send_notification:booking_cancelled",
    ]
    assert (answer.status, answer.refund) == ("CANCELLED", None)
    assert steps.refunds == []
    assert state.status == "CANCELLED"


async def test_cancel_of_a_paid_gateway_booking_refunds_that_payment(
    time_env: WorkflowEnvironment,
) -> None:
    """The capture replaced the order on the stack: cancelling refunds the captured payment."""
    steps = FakeSteps(amount=4_000)
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        await handle.signal(BookingWorkflow.payment_event, captured("evt_1", "pay_1", 4_000))
        await until_state(handle, settled("CONFIRMED"))
        answer = await handle.execute_update(
            BookingWorkflow.cancel, CancelInput(actor="customer:c")
        )
        await handle.result()

    assert "cancel_order" not in steps.calls
    assert [(r.payment_id, r.amount, r.move) for r in steps.refunds] == [("pay_1", 2_000, None)]
    assert answer.refund is not None
    assert (answer.refund.method, answer.refund.status) == ("sandbox", "PROCESSED")


async def test_two_reschedules_are_two_moves_two_refunds_and_two_mails(
    time_env: WorkflowEnvironment,
) -> None:
    """Each move has its own number: its refund and its mail are keyed by it, none swallowed."""
    steps = FakeSteps(amount=5_000, move_difference=-1_000)
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps)
        await until_state(handle, settled("CONFIRMED"))
        first = await handle.execute_update(
            BookingWorkflow.reschedule, RescheduleInput(slot_id=uuid.uuid4(), actor="customer:c")
        )
        second = await handle.execute_update(
            BookingWorkflow.reschedule, RescheduleInput(slot_id=uuid.uuid4(), actor="customer:c")
        )
        result = await handle.result()
        await record_history(handle, "wallet_rescheduled_twice")

    assert [m.move for m in steps.moves] == [1, 2]
    assert [(r.amount, r.move) for r in steps.wallet_refunds] == [(1_000, 1), (1_000, 2)]
    moved_mails = [n.about for n in steps.notifications if n.kind == "booking_rescheduled"]
    assert moved_mails == ["move:1", "move:2"]
    assert (first.difference, second.difference) == (-1_000, -1_000)
    assert first.refund is not None
    assert first.refund.amount == 1_000
    # The meeting follows the booking (its first link was made in the decision); the
    # workflow ends with the last slot, COMPLETED.
    assert steps.calls.count("create_meeting") == 2
    assert result.status == "COMPLETED"
    # Each move's mail carries what it gave back; the invite's SEQUENCE rises with each.
    moved = [n for n in steps.notifications if n.kind == "booking_rescheduled"]
    assert [(n.refund.amount if n.refund else None, n.sequence) for n in moved] == [
        (1_000, 1),
        (1_000, 2),
    ]


async def test_reschedule_of_an_unpaid_booking_is_refused_and_changes_nothing(
    time_env: WorkflowEnvironment,
) -> None:
    """Only a CONFIRMED booking moves: AWAITING_PAYMENT is INVALID_STATE, no move attempted."""
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, payment=SANDBOX)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                BookingWorkflow.reschedule,
                RescheduleInput(slot_id=uuid.uuid4(), actor="customer:c"),
            )
        await handle.execute_update(BookingWorkflow.cancel, CancelInput(actor="customer:c"))
        await handle.result()

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "INVALID_STATE"
    assert steps.moves == []


async def test_the_fakes_stand_in_for_every_engine_activity(
    settings: Settings, sessions: SessionFactory
) -> None:
    """Workflow tests fake exactly the worker's activities: a new step needs its fake."""
    async with httpx.AsyncClient() as http:
        real = {activity_name(a) for a in engine_activities(settings, sessions, http)}
    faked = {activity_name(a) for a in FakeSteps().activities()}

    assert faked == real
