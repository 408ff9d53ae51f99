"""Reminders are workflow timers: on time, moved by a reschedule, dropped by a cancel, never late.

On the time-skipping server, with the activities faked: the notifications
the workflow asks for, and when (the server's clock at each request).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from models.payloads import BookingPolicy, CancelInput, RescheduleInput, SendNotificationInput
from workflows.booking import BookingWorkflow

from support.fakes import FakeSteps, fake_worker, start_booking
from support.workflows import settled, until_state

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def _reminders(steps: FakeSteps) -> list[SendNotificationInput]:
    return [n for n in steps.notifications if n.kind == "booking_reminder"]


async def _reminders_by(env: WorkflowEnvironment, steps: FakeSteps, when: datetime) -> list[str]:
    """Skip the server's clock to ``when``; the reminders asked for by then."""
    await env.sleep(when - await env.get_current_time())
    await until_state_idle(env, steps)
    return [n.about or "" for n in _reminders(steps)]


async def until_state_idle(env: WorkflowEnvironment, steps: FakeSteps) -> None:
    """The workflow has done what was due (its state query answers idle)."""
    assert steps.handle is not None
    await until_state(steps.handle, lambda s: s.idle)


async def test_reminders_go_out_24_hours_and_1_hour_before_the_start(
    time_env: WorkflowEnvironment,
) -> None:
    """A booking three days ahead: nothing at first, the 24 h reminder, then the 1 h one."""
    steps = FakeSteps(starts_in=3 * DAY)
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps)
        steps.handle = handle
        await until_state(handle, settled("CONFIRMED"))
        starts = steps.clock + 3 * DAY
        before = await _reminders_by(time_env, steps, starts - DAY - HOUR)
        first = await _reminders_by(time_env, steps, starts - DAY + timedelta(minutes=1))
        second = await _reminders_by(time_env, steps, starts - HOUR + timedelta(minutes=1))
        result = await handle.result()

    assert before == []
    assert first == ["reminder:86400s:move:0"]
    assert second == ["reminder:86400s:move:0", "reminder:3600s:move:0"]
    assert result.status == "COMPLETED"


async def test_a_reschedule_moves_the_reminders_to_the_new_time(
    time_env: WorkflowEnvironment,
) -> None:
    """Moved from four days ahead to three: the reminders follow; the old time's never go."""
    steps = FakeSteps(starts_in=4 * DAY)
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps)
        steps.handle = handle
        await until_state(handle, settled("CONFIRMED"))
        await handle.execute_update(
            BookingWorkflow.reschedule, RescheduleInput(slot_id=uuid.uuid4(), actor="customer:c")
        )
        # The fake moves the booking to two days plus the move number after it was made.
        new_start = steps.clock + 3 * DAY
        day_before = await _reminders_by(time_env, steps, new_start - DAY + timedelta(minutes=1))
        hour_before = await _reminders_by(time_env, steps, new_start - HOUR + timedelta(minutes=1))
        result = await handle.result()

    assert day_before == ["reminder:86400s:move:1"]
    assert hour_before == ["reminder:86400s:move:1", "reminder:3600s:move:1"]
    assert result.status == "COMPLETED"
    assert [n.about for n in _reminders(steps)] == hour_before, "none at the old time"


async def test_a_cancel_drops_the_reminders(time_env: WorkflowEnvironment) -> None:
    """Cancelled two days before the start: no reminder is ever sent."""
    steps = FakeSteps(starts_in=3 * DAY)
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps)
        await until_state(handle, settled("CONFIRMED"))
        await handle.execute_update(BookingWorkflow.cancel, CancelInput(actor="customer:c"))
        result = await handle.result()
        await time_env.sleep(3 * DAY)

    assert result.status == "CANCELLED"
    assert _reminders(steps) == []


async def test_reminders_already_past_when_booked_are_skipped(
    time_env: WorkflowEnvironment,
) -> None:
    """Booked 30 minutes before the start: neither the 24 h nor the 1 h reminder goes out late."""
    steps = FakeSteps(starts_in=timedelta(minutes=30))
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps)
        result = await handle.result()

    assert result.status == "COMPLETED"
    assert _reminders(steps) == []
    assert "send_notification:booking_confirmed" in steps.calls


async def test_offsets_come_from_the_policy(time_env: WorkflowEnvironment) -> None:
    """BOOKING_REMINDER_OFFSETS="2h" (carried in the policy): one reminder, two hours before."""
    steps = FakeSteps(starts_in=DAY)
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(
            time_env, queue, steps, policy=BookingPolicy(reminder_offsets_seconds=[7200])
        )
        await handle.result()

    assert [n.about for n in _reminders(steps)] == ["reminder:7200s:move:0"]
