"""Saga decisions and timers on the time-skipping server, activities mocked by name."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from models.payloads import SAGA_VERSION, BookingPolicy
from workflows.booking import BookingWorkflow

from support.fakes import FakeSteps, fake_worker, start_booking
from support.histories import record_history


@pytest.mark.parametrize("version", [1, SAGA_VERSION])
async def test_confirmed_booking_stays_open_until_its_slot_ends(
    time_env: WorkflowEnvironment, version: int
) -> None:
    """After CONFIRMED it waits out the slot (a day, skipped): the 1 h reminder, then COMPLETED.

    The 24 h reminder's time had passed when the booking was made (it starts in
    a day): skipped, never sent late. Since saga version 2 the Jitsi link is
    made by the decision itself: READY when the create call is answered, with
    no meeting step after it.
    """
    steps = FakeSteps()
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, created = await start_booking(time_env, queue, steps, saga_version=version)
        decision = f"{created.status}:{created.reason}"
        answered = await handle.query(BookingWorkflow.state)
        result = await handle.result()
        if version == SAGA_VERSION:
            await record_history(handle, "wallet_confirmed")

    assert decision == "CONFIRMED:None"
    assert result.status == "COMPLETED"
    meeting_step = ["create_meeting"] if version == 1 else []
    assert steps.calls == [
        "hold_slot",
        "charge_wallet",
        *meeting_step,
        "send_notification:booking_confirmed",
        "send_notification:booking_reminder",
        "release_slot",
    ]
    if version == SAGA_VERSION:
        assert answered.meeting_status == "READY"
        assert steps.meeting_ready.is_set()
    assert [(r.status, r.reason) for r in steps.releases] == [("COMPLETED", None)]


async def test_insufficient_funds_releases_without_refund(time_env: WorkflowEnvironment) -> None:
    """A business refusal of the debit releases the slot, refunds nothing, and answers FAILED."""
    steps = FakeSteps(
        charge_error=ApplicationError("short", type="INSUFFICIENT_FUNDS", non_retryable=True)
    )
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, created = await start_booking(time_env, queue, steps)
        decision = f"{created.status}:{created.reason}"
        result = await handle.result()
        await record_history(handle, "wallet_insufficient_funds")

    assert decision == "FAILED:INSUFFICIENT_FUNDS"
    assert (result.status, result.reason) == ("FAILED", "INSUFFICIENT_FUNDS")
    assert [(r.status, r.reason) for r in steps.releases] == [("FAILED", "INSUFFICIENT_FUNDS")]
    assert "refund_wallet" not in steps.calls
    assert steps.calls[-1] == "send_notification:booking_failed"


async def test_unexplained_debit_failure_unwinds_refund_then_release(
    time_env: WorkflowEnvironment,
) -> None:
    """A debit failing for no business reason may have committed: refund, then release.

    Its undo (a refund, which also voids a debit not yet made) runs before the
    hold's undo: the stack unwinds in reverse.
    """
    steps = FakeSteps(charge_error=ApplicationError("?", type="Unexpected", non_retryable=True))
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, created = await start_booking(time_env, queue, steps)
        decision = f"{created.status}:{created.reason}"
        result = await handle.result()

    assert decision == "FAILED:INTERNAL"
    assert result.status == "FAILED"
    assert steps.calls.index("refund_wallet") < steps.calls.index("release_slot")


async def test_meeting_failure_alerts_keeps_payment_and_operator_retry_fixes_it(
    time_env: WorkflowEnvironment,
) -> None:
    """A provider down past the bound: alert, no refund, PENDING; a retry signal makes it READY."""
    steps = FakeSteps(meeting_works=False, meeting_provider="google")
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, created = await start_booking(
            time_env, queue, steps, policy=BookingPolicy(meeting_alert_after_seconds=600)
        )
        decision = f"{created.status}:{created.reason}"
        # Time skips only while the test waits on the server: skip past the bound.
        await time_env.sleep(timedelta(seconds=650))
        await asyncio.wait_for(steps.alerted.wait(), timeout=30)
        pending = await handle.query(BookingWorkflow.state)

        steps.meeting_works = True
        await handle.signal(BookingWorkflow.retry_meeting)
        await asyncio.wait_for(steps.meeting_ready.wait(), timeout=30)
        result = await handle.result()
        await record_history(handle, "meeting_alert_then_retry")

    assert decision == "CONFIRMED:None"
    assert (pending.status, pending.meeting_status) == ("CONFIRMED", "PENDING")
    assert "refund_wallet" not in steps.calls
    assert steps.calls.count("create_meeting") > 2
    # The link came after the confirmation: it is mailed when it arrives.
    assert "send_notification:meeting_ready" in steps.calls
    assert [r.status for r in steps.releases] == ["COMPLETED"]
    assert result.status == "COMPLETED"
