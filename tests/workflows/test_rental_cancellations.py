"""A three-day rental paid through a gateway, cancelled at each edge of the refund policy.

On the time-skipping server: the rental starts four days after it is booked;
the policy gives everything back until 24 hours before the start, half until
the start, nothing after it. Each cancel is a minute either side of an edge.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from models.payloads import BookingRange, CancelInput, PaymentSpec
from workflows.booking import BookingWorkflow

from support.fakes import FakeSteps, captured, fake_worker, start_booking
from support.workflows import settled, until_state

DAY, MINUTE = timedelta(days=1), timedelta(minutes=1)
PRICE = 3 * 250_000


@pytest.mark.parametrize(
    ("before_start", "refunded"),
    [
        (DAY + MINUTE, PRICE),  # more than 24 h before: all of it
        (DAY - MINUTE, PRICE // 2),  # inside the notice: half
        (MINUTE, PRICE // 2),  # a minute before the start: still half
        (-MINUTE, 0),  # the rental has begun: nothing
    ],
    ids=["24h+1m", "24h-1m", "1m", "started"],
)
async def test_a_gateway_paid_rental_cancelled_at_each_policy_edge(
    time_env: WorkflowEnvironment, before_start: timedelta, refunded: int
) -> None:
    """The refund is what the policy grants at that minute, made through the gateway, once."""
    steps = FakeSteps(amount=PRICE, starts_in=4 * DAY, length=3 * DAY)
    worker, queue = fake_worker(time_env, steps)
    now = await time_env.get_current_time()
    async with worker:
        handle, created = await start_booking(
            time_env,
            queue,
            steps,
            payment=PaymentSpec(method="gateway", provider="sandbox"),
            span=BookingRange(
                resource_id=uuid.uuid4(), starts_at=now + 4 * DAY, ends_at=now + 7 * DAY
            ),
        )
        await handle.signal(BookingWorkflow.payment_event, captured("evt_1", "pay_1", PRICE))
        await until_state(handle, settled("CONFIRMED"))
        starts = steps.clock + 4 * DAY
        await time_env.sleep(starts - before_start - await time_env.get_current_time())
        answer = await handle.execute_update(
            BookingWorkflow.cancel, CancelInput(actor="customer:c")
        )
        await handle.result()

    assert created.status == "AWAITING_PAYMENT"
    assert answer.status == "CANCELLED"
    assert [(r.payment_id, r.amount) for r in steps.refunds] == (
        [("pay_1", refunded)] if refunded else []
    )
    assert (answer.refund.amount if answer.refund else 0) == refunded
