"""Each failure class injected into each step of the saga: every outcome is bounded and operable.

The classes (``core.failures``): a business refusal (a typed, non-retryable
``ApplicationError``), a transient fault (a lost connection: retried with
backoff within the step's bound) and a defect or poison input (any other
exception: non-retryable at once). The fakes raise them from inside the
activity, and the worker runs the production failure classifier.

What must hold for every step and class: the caller is answered, nothing
waits without a bound, and a step that must happen (a release, a refund, a
confirmation, an audit row) that cannot is kept pending, shown to operators
(``BookingAttention``, the state query, the current details) and done once
the fault is gone and an operator asks for a retry.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from models.payloads import (
    SAGA_VERSION,
    BookingPolicy,
    BookingResult,
    CancelInput,
    PaymentEvent,
    PaymentSpec,
    RescheduleInput,
)
from models.search_attributes import BOOKING_ATTENTION
from workflows.booking import BookingWorkflow
from workflows.policies import pending_retry_after

from support.fakes import FakeSteps, captured, fake_worker, start_booking
from support.workflows import current_details, settled, until_state

SANDBOX = PaymentSpec(method="gateway", provider="sandbox")
# Short bounds for the steps that run as local activities (real time, not skipped).
POLICY = BookingPolicy(
    decision_timeout_seconds=2,
    notify_timeout_seconds=2,
    step_bound_seconds=2,
    meeting_alert_after_seconds=3,
    gateway_max_attempts=2,
)


def business(code: str = "INVALID_STATE") -> ApplicationError:
    """A documented refusal: the step changed nothing."""
    return ApplicationError("refused", type=code, non_retryable=True)


def transient() -> BaseException:
    """A dependency that is down (a lost connection)."""
    return ConnectionResetError("connection reset by peer")


def defect() -> BaseException:
    """A value PostgreSQL refuses, or a bug."""
    return ValueError("A string literal cannot contain NUL (0x00) characters.")


CLASSES: dict[str, Callable[[], BaseException]] = {
    "business": business,
    "transient": transient,
    "defect": defect,
}


def _attempts(steps: FakeSteps, name: str) -> list[int]:
    """Temporal's attempt numbers of the calls of ``name`` that failed."""
    return [attempt for step, attempt in steps.failed_attempts if step == name]


def _assert_attempts(steps: FakeSteps, name: str, kind: str) -> None:
    """Business and defect: never retried (attempt 1 only). Transient: retried, then it stops."""
    attempts = _attempts(steps, name)
    assert attempts, steps.calls
    if kind == "transient":
        assert max(attempts) > 1, attempts
    else:
        # A local activity may run again when its workflow task is replayed, but as attempt 1.
        assert set(attempts) == {1}, attempts


# ---- the decision: the create call waits for these ---------------------------------------------

DECISIONS = {
    # step: (payment, business code, {class: the reason the booking fails with})
    "hold_slot": (
        PaymentSpec(method="wallet"),
        "SLOT_UNAVAILABLE",
        {
            "business": "SLOT_UNAVAILABLE",
            "transient": "DEPENDENCY_UNAVAILABLE",
            "defect": "INTERNAL",
        },
    ),
    "charge_wallet": (
        PaymentSpec(method="wallet"),
        "INSUFFICIENT_FUNDS",
        {
            "business": "INSUFFICIENT_FUNDS",
            "transient": "DEPENDENCY_UNAVAILABLE",
            "defect": "INTERNAL",
        },
    ),
    "create_order": (
        SANDBOX,
        "PAYMENT_PROVIDER_UNAVAILABLE",
        dict.fromkeys(CLASSES, "PAYMENT_PROVIDER_UNAVAILABLE"),
    ),
}


# A wallet booking's hold and debit are one step (decide_wallet) since saga version 2;
# version 1 (two steps) still runs for workflows started before it.
DECISION_CASES = [
    (step, version)
    for step, (payment, _, _) in DECISIONS.items()
    for version in ((1, SAGA_VERSION) if payment.method == "wallet" else (SAGA_VERSION,))
]


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize(("step", "version"), DECISION_CASES)
async def test_a_failing_decision_step_answers_the_caller_and_undoes_what_it_took(
    time_env: WorkflowEnvironment, step: str, version: int, kind: str
) -> None:
    """The create call hears FAILED with the class's reason; the slot is released unless refused."""
    payment, code, reasons = DECISIONS[step]
    error = business(code) if kind == "business" else CLASSES[kind]()
    steps = FakeSteps(faults={step: error})
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, decision = await start_booking(
            time_env, queue, steps, payment=payment, policy=POLICY, saga_version=version
        )
        result = await handle.result()

    assert (decision.status, decision.reason) == ("FAILED", reasons[kind])
    assert (result.status, result.reason) == ("FAILED", reasons[kind])
    _assert_attempts(steps, step, kind)
    # A refused hold took nothing; every other failure gives the slot back.
    refused_hold = step == "hold_slot" and kind == "business"
    assert len(steps.releases) == (0 if refused_hold else 1)
    # A debit that may have happened is voided; a refused one needs nothing back. In
    # one step, any failure but a refusal may have come after the debit.
    undecided = kind != "business" and payment.method == "wallet"
    voided = undecided and (version >= 2 or step == "charge_wallet")
    assert len(steps.wallet_refunds) == (1 if voided else 0)
    # The customer hears of a failure once their hold existed; of the rest, the caller.
    told = step == "create_order" or (
        step == "charge_wallet" and (kind == "business" or version == 1)
    )
    assert ("send_notification:booking_failed" in steps.calls) == told
    assert "send_notification:booking_confirmed" not in steps.calls


# ---- the steps that must happen: pending, visible, resolved by a retry -------------------------


async def _cancelled(
    handle: WorkflowHandle[BookingWorkflow, BookingResult],
) -> WorkflowHandle[BookingWorkflow, BookingResult]:
    await until_state(handle, settled("CONFIRMED"))
    answer = await handle.execute_update(BookingWorkflow.cancel, CancelInput(actor="customer:c"))
    # The cancel is answered, CANCELLED, whatever could not be finished yet.
    assert answer.status == "CANCELLED"
    return handle


async def _cancel_confirmed_wallet(
    env: WorkflowEnvironment, queue: str, steps: FakeSteps
) -> WorkflowHandle[BookingWorkflow, BookingResult]:
    handle, _ = await start_booking(env, queue, steps, policy=POLICY)
    return await _cancelled(handle)


async def _cancel_paid_gateway(
    env: WorkflowEnvironment, queue: str, steps: FakeSteps
) -> WorkflowHandle[BookingWorkflow, BookingResult]:
    return await _cancelled(await _capture(env, queue, steps))


async def _capture(
    env: WorkflowEnvironment, queue: str, steps: FakeSteps
) -> WorkflowHandle[BookingWorkflow, BookingResult]:
    handle, _ = await start_booking(env, queue, steps, payment=SANDBOX, policy=POLICY)
    await handle.signal(BookingWorkflow.payment_event, captured("evt_1", "pay_1"))
    return handle


async def _refund_processed(
    env: WorkflowEnvironment, queue: str, steps: FakeSteps
) -> WorkflowHandle[BookingWorkflow, BookingResult]:
    handle = await _capture(env, queue, steps)
    await until_state(handle, settled("CONFIRMED"))
    processed = PaymentEvent(
        provider="sandbox", event_id="evt_2", type="refund.processed", payment_id="pay_1"
    )
    await handle.signal(BookingWorkflow.payment_event, processed)
    return handle


MUST_HAPPEN = {
    # step: (how the booking gets there, the attention kind, the status it shows meanwhile)
    "release_slot": (_cancel_confirmed_wallet, "STEP_FAILING", "CANCELLED"),
    "refund_wallet": (_cancel_confirmed_wallet, "REFUND_FAILING", "CANCELLED"),
    "record_audit": (_cancel_confirmed_wallet, "STEP_FAILING", "CANCELLED"),
    "refund_payment": (_cancel_paid_gateway, "REFUND_FAILING", "CANCELLED"),
    "confirm_payment": (_capture, "STEP_FAILING", "CONFIRMED"),
    "mark_refund_processed": (_refund_processed, "STEP_FAILING", "CONFIRMED"),
}


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("step", MUST_HAPPEN)
async def test_a_must_happen_step_that_fails_is_pending_visible_and_retried_on_request(
    time_env: WorkflowEnvironment, step: str, kind: str
) -> None:
    """Past its bound the step is pending; the workflow is idle (no lock held); a retry does it."""
    reach, attention, status = MUST_HAPPEN[step]
    steps = FakeSteps(faults={step: CLASSES[kind]()})
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle = await reach(time_env, queue, steps)
        stuck = await until_state(handle, lambda s: bool(s.pending_steps) and s.idle, within=60)
        described = await handle.describe()
        details = await current_details(handle)

        del steps.faults[step]  # The dependency is back; an operator asks for a retry.
        await handle.signal(BookingWorkflow.retry_pending_steps)
        done = await until_state(handle, lambda s: not s.pending_steps)
        result = await handle.result()

    assert stuck.status == status
    assert stuck.attention == [attention]
    assert described.typed_search_attributes.get(BOOKING_ATTENTION) == [attention]
    assert "Needs attention" in details
    assert steps.flags, "the database flag is set too"
    _assert_attempts(steps, step, kind)
    # Done exactly once, on the operator's retry.
    assert len([call for call in steps.calls if call.split(":")[0] == step]) == 1
    assert done.attention == []
    assert result.status == ("COMPLETED" if status == "CONFIRMED" else status)


# ---- steps that never fail a booking --------------------------------------------------------


@pytest.mark.parametrize("kind", CLASSES)
async def test_a_failing_meeting_link_keeps_the_booking_and_shows_it_to_operators(
    time_env: WorkflowEnvironment, kind: str
) -> None:
    """CONFIRMED, meeting PENDING, MEETING_LINK_FAILING; the operator's retry creates it."""
    # A provider that needs the network: its link is a step after the decision.
    steps = FakeSteps(faults={"create_meeting": CLASSES[kind]()}, meeting_provider="google")
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, decision = await start_booking(time_env, queue, steps, policy=POLICY)
        stuck = await until_state(handle, lambda s: "MEETING_LINK_FAILING" in s.attention)
        del steps.faults["create_meeting"]
        await handle.signal(BookingWorkflow.retry_meeting)
        fixed = await until_state(handle, lambda s: s.meeting_status == "READY" and s.idle)
        result = await handle.result()

    assert decision.status == "CONFIRMED"
    assert (stuck.status, stuck.meeting_status) == ("CONFIRMED", "PENDING")
    assert "record_meeting_alert" in steps.calls
    assert steps.wallet_refunds == []
    assert fixed.attention == []
    assert result.status == "COMPLETED"


@pytest.mark.parametrize("kind", CLASSES)
async def test_a_notification_that_cannot_be_queued_never_fails_the_booking(
    time_env: WorkflowEnvironment, kind: str
) -> None:
    """The outbox itself failing: bounded, NOTIFICATION_FAILED, the booking stays confirmed."""
    steps = FakeSteps(faults={"send_notification": CLASSES[kind]()})
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, decision = await start_booking(time_env, queue, steps, policy=POLICY)
        state = await until_state(handle, settled("CONFIRMED"))
        result = await handle.result()

    assert decision.status == "CONFIRMED"
    assert state.attention == ["NOTIFICATION_FAILED"]
    assert steps.wallet_refunds == []
    assert [r.status for r in steps.releases] == ["COMPLETED"]  # never released early
    assert result.status == "COMPLETED"


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("step", ["cancel_meeting", "cancel_order"])
async def test_a_failing_cleanup_step_never_blocks_a_cancel(
    time_env: WorkflowEnvironment, step: str, kind: str
) -> None:
    """A meeting or an order that cannot be cancelled: the booking is cancelled and freed anyway."""
    steps = FakeSteps(faults={step: CLASSES[kind]()})
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        payment = SANDBOX if step == "cancel_order" else PaymentSpec(method="wallet")
        handle, _ = await start_booking(time_env, queue, steps, payment=payment, policy=POLICY)
        if step == "cancel_order":
            await until_state(handle, lambda s: s.status == "AWAITING_PAYMENT")
        else:
            await until_state(handle, settled("CONFIRMED"))
        answer = await handle.execute_update(
            BookingWorkflow.cancel, CancelInput(actor="customer:c")
        )
        result = await handle.result()

    assert answer.status == "CANCELLED"
    _assert_attempts(steps, step, kind)
    assert len(steps.releases) == 1
    assert result.status == "CANCELLED"


# ---- a change that fails leaves the booking as it was, and operable -------------------------

MOVE_REFUSALS = {
    "business": "SLOT_UNAVAILABLE",
    "transient": "DEPENDENCY_UNAVAILABLE",
    "defect": "INTERNAL",
}


@pytest.mark.parametrize("kind", CLASSES)
async def test_a_failing_move_is_refused_and_the_booking_can_still_be_cancelled(
    time_env: WorkflowEnvironment, kind: str
) -> None:
    """The reschedule answers with the class's code; the change lock is free for the cancel."""
    error = business("SLOT_UNAVAILABLE") if kind == "business" else CLASSES[kind]()
    steps = FakeSteps(faults={"move_booking": error})
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle, _ = await start_booking(time_env, queue, steps, policy=POLICY)
        await until_state(handle, settled("CONFIRMED"))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                BookingWorkflow.reschedule,
                RescheduleInput(slot_id=uuid.uuid4(), actor="customer:c"),
            )
        state = await handle.query(BookingWorkflow.state)
        answer = await handle.execute_update(
            BookingWorkflow.cancel, CancelInput(actor="customer:c")
        )
        result = await handle.result()

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == MOVE_REFUSALS[kind]
    assert state.status == "CONFIRMED"
    assert answer.status == "CANCELLED"
    assert result.status == "CANCELLED"


def test_a_parked_step_is_tried_again_on_a_backoff_that_starts_at_seconds() -> None:
    """5 s, then doubling, capped at 15 minutes: not the next 15-minute round."""
    waits = [pending_retry_after(rounds) for rounds in range(12)]
    assert waits[:4] == [timedelta(seconds=s) for s in (5, 10, 20, 40)]
    assert waits == sorted(waits)
    assert max(waits) == timedelta(minutes=15) == waits[-1]


async def test_a_parked_step_goes_through_by_itself_once_the_fault_is_gone(
    time_env: WorkflowEnvironment,
) -> None:
    """No operator: the step's next round comes seconds later and settles its alert."""
    steps = FakeSteps(faults={"release_slot": transient()})
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle = await _cancel_confirmed_wallet(time_env, queue, steps)
        stuck = await until_state(handle, lambda s: bool(s.pending_steps) and s.idle, within=60)
        parked_at = await time_env.get_current_time()
        del steps.faults["release_slot"]  # The database is back; nobody signals.
        done = await until_state(handle, lambda s: not s.pending_steps, within=60)
        settled_at = await time_env.get_current_time()
        details = await current_details(handle)
        await handle.result()

    assert stuck.attention == ["STEP_FAILING"]
    assert done.attention == []
    assert "Needs attention" not in details
    # Workflow time: the rounds back off from seconds, so the first one after the
    # fault cleared came well inside the old 15-minute round.
    assert settled_at - parked_at < timedelta(minutes=5)


async def test_a_retry_asked_for_once_nothing_is_pending_leaves_the_booking_serving(
    time_env: WorkflowEnvironment,
) -> None:
    """The steps went through by themselves before the operator's retry came: nothing to do.

    The booking still answers, waits and closes (a retry request left set kept
    its loop from ever waiting: the worker's deadlock detector failed its task).
    """
    steps = FakeSteps(faults={"confirm_payment": transient()})
    worker, queue = fake_worker(time_env, steps)
    async with worker:
        handle = await _capture(time_env, queue, steps)
        await until_state(handle, lambda s: bool(s.pending_steps) and s.idle, within=60)
        del steps.faults["confirm_payment"]
        await until_state(handle, lambda s: not s.pending_steps and s.idle, within=60)
        await handle.signal(BookingWorkflow.retry_pending_steps)
        after = await until_state(handle, lambda s: s.idle, within=30)
        result = await asyncio.wait_for(handle.result(), timeout=60)

    assert (after.status, after.pending_steps) == ("CONFIRMED", [])
    assert result.status == "COMPLETED"
