"""The Temporal UI's buttons on a paid booking, against the engine as processes.

Request Cancellation (``RequestCancelWorkflowExecution``) is the booking's own
cancel: refunded, released, mailed, and the workflow goes on listening for late
money. Terminate leaves an active booking behind: the ``reconcile-closed-workflows``
schedule finds it (WORKFLOW_MISSING) and ``POST /v1/ops/bookings/{id}/recover``
finishes it. Reset runs the workflow again from an earlier point: the keys hold,
nothing is charged, refunded or mailed twice. A local SMTP sink takes the mails.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from faults.conftest import assert_invariants
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from core.settings import Settings
from stack.mailsink import MailSink
from stack.processes import ProcessStack
from stack.schedules import schedule_for

from support.auth import OPERATOR, bearer
from support.cancels import Paid, paid_bookings, rows_by_kind, until_settled, view
from support.figures import Figures
from support.waiting import eventually

CANCELLED_MAIL = "Your booking was cancelled"


@pytest.fixture(scope="module")
def mail(stack: ProcessStack) -> Iterator[MailSink]:
    """An SMTP sink on the port the stack's worker sends to."""
    sink = MailSink(stack.workdir / "mail", "127.0.0.1", int(stack.settings["BOOKING_SMTP_PORT"]))
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def sandbox(stack: ProcessStack) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox gateway's merchant API."""
    key = stack.settings["BOOKING_SANDBOX_API_KEY"]
    async with httpx.AsyncClient(
        base_url=stack.url("sandbox"), headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


def _mails_to(mail: MailSink, booking: Paid) -> Counter[str]:
    """How many mails of each subject reached the booking's contact."""
    return Counter(str(m["Subject"]) for m in mail.messages() if m["To"] == booking.email)


async def _mailed(mail: MailSink, booking: Paid, subject: str) -> None:
    async def arrived() -> bool:
        return _mails_to(mail, booking)[subject] >= 1

    await eventually(arrived, within=60, what=f"{subject!r} to {booking.email}")


async def test_request_cancellation_is_the_booking_s_own_cancel(
    stack: ProcessStack,
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    temporal: Client,
    mail: MailSink,
    db: asyncpg.Connection,
) -> None:
    """The UI's Request Cancellation on a paid gateway booking: refunded, released, mailed."""
    figures = Figures("Temporal's Request Cancellation on a paid booking", bookings=1)
    (booking,) = await paid_bookings(api, gateway, 1, wallet=False)
    handle = temporal.get_workflow_handle(f"booking-{booking.id}")

    await handle.cancel()  # RequestCancelWorkflowExecution, as the UI's button sends it
    figures.temporal += 1
    asked = time.monotonic()
    figures.settle_seconds = await until_settled(api, [booking], since=asked)
    await _mailed(mail, booking, CANCELLED_MAIL)
    figures.show()

    done = await view(api, booking)
    assert done["reason"] == "CANCELLED_BY_OPERATOR", done
    assert done["refunds"][0]["amount"]["amount"] == done["amount"]["amount"]
    assert await rows_by_kind(db, booking.id) == {
        "gateway_capture": 1,
        "gateway_refund": 1,
        "mail_booking_confirmed": 1,
        "mail_booking_cancelled": 1,
    }
    order = (await sandbox.get(f"/v1/orders/{booking.order_id}")).json()
    assert order["amount_refunded"] == order["amount_paid"] > 0, order
    actors = await db.fetch(
        "SELECT actor, action FROM audit_log WHERE booking_id = $1", uuid.UUID(booking.id)
    )
    assert ("temporal", "booking.cancel_requested") in [(r["actor"], r["action"]) for r in actors]
    # Never closed as CANCELED: the workflow still listens for a late payment to refund.
    described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.RUNNING


def _settings_of(stack: ProcessStack) -> Settings:
    """The settings the stack's worker runs with (for the schedule it would create)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in stack.settings.items():
            env.setenv(name, value)
        return Settings()


async def _open_alert(api: httpx.AsyncClient, booking_id: str) -> dict[str, Any] | None:
    found = await api.get(
        "/v1/ops/alerts", params={"status": "open", "kind": "WORKFLOW_MISSING"}, headers=OPERATOR
    )
    assert found.status_code == 200, found.text
    mine = [a for a in found.json()["items"] if a["booking_id"] == booking_id]
    return mine[0] if mine else None


@pytest.mark.timeout(240)
async def test_a_terminated_booking_is_found_by_the_schedule_and_recovered(
    stack: ProcessStack,
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    temporal: Client,
    mail: MailSink,
    db: asyncpg.Connection,
) -> None:
    """Terminate: the minute schedule raises WORKFLOW_MISSING; recover refunds and releases."""
    figures = Figures("Terminate, found by the schedule, recovered", bookings=1)
    # The stack runs without the schedules (the benchmark's rows have no workflows):
    # this one, as a worker creates it, for this test; it fires on its own.
    schedule = await temporal.create_schedule(
        "reconcile-closed-workflows",
        schedule_for("reconcile-closed-workflows", _settings_of(stack)),
    )
    ops = figures.client(stack.url("api"))
    try:
        (booking,) = await paid_bookings(api, gateway, 1)
        await temporal.get_workflow_handle(f"booking-{booking.id}").terminate("from the UI")
        figures.temporal += 1
        terminated = time.monotonic()
        figures.counting = True

        async def raised() -> dict[str, Any] | None:
            return await _open_alert(ops, booking.id)

        # Every minute, plus the run itself: found within about a minute.
        alert = await eventually(raised, within=90, every=1, what="WORKFLOW_MISSING")
        found_after = time.monotonic() - terminated
        await schedule.delete()
        recovered = await ops.post(
            f"/v1/ops/bookings/{booking.id}/recover",
            json={"note": "terminated in the UI"},
            headers=OPERATOR,
        )
        figures.settle_seconds = await until_settled(ops, [booking], since=terminated)
        figures.counting = False
    finally:
        await ops.aclose()
        with contextlib.suppress(RPCError):  # deleted above unless something failed first
            await schedule.delete()
    await _mailed(mail, booking, CANCELLED_MAIL)
    figures.show()
    print(f"[figures] WORKFLOW_MISSING raised {found_after:.1f} s after the terminate")

    assert found_after <= 75, found_after
    assert f"POST /v1/ops/bookings/{booking.id}/recover" in alert["details"]
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["status"] == "CANCELLED"
    assert recovered.json()["refund"]["status"] == "PROCESSED"
    assert await _open_alert(api, booking.id) is None
    money = await rows_by_kind(db, booking.id)
    assert (money["wallet_debit"], money["wallet_refund"]) == (1, 1), money
    assert money["mail_booking_cancelled"] == 1, money
    wallet = await api.get("/v1/wallets/me", headers=bearer(booking.customer))
    assert wallet.json()["balances"] == [{"amount": 5_000, "currency": "INR"}]
    await assert_invariants(db)


async def _reset(temporal: Client, workflow_id: str, to_event: int) -> str:
    """Reset the workflow to the end of the workflow task ``to_event``, as the UI does; its run."""
    described = await temporal.get_workflow_handle(workflow_id).describe()
    reset = await temporal.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=temporal.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=described.run_id),
            reason="reset from the UI",
            workflow_task_finish_event_id=to_event,
            request_id=str(uuid.uuid4()),
        )
    )
    return reset.run_id


async def test_a_reset_charges_refunds_and_mails_nothing_twice(
    stack: ProcessStack,
    api: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    temporal: Client,
    mail: MailSink,
    db: asyncpg.Connection,
) -> None:
    """A paid, cancelled gateway booking reset to its first workflow task: nothing again."""
    figures = Figures("Reset of a paid, cancelled booking", bookings=1)
    (booking,) = await paid_bookings(api, gateway, 1, wallet=False)
    cancelled = await api.post(
        f"/v1/bookings/{booking.id}/cancel", json={}, headers=bearer(booking.customer)
    )
    assert cancelled.status_code == 200, cancelled.text
    await until_settled(api, [booking], since=time.monotonic())
    await _mailed(mail, booking, CANCELLED_MAIL)
    before = (await rows_by_kind(db, booking.id), _mails_to(mail, booking))
    workflow_id = f"booking-{booking.id}"
    history = await temporal.get_workflow_handle(workflow_id).fetch_history()
    first_task = next(
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )

    new_run = await _reset(temporal, workflow_id, first_task)
    figures.temporal += 1
    reset_at = time.monotonic()
    # The new run decides at its first step that the booking has ended; bounded all the same.
    handle = temporal.get_workflow_handle(workflow_id, run_id=new_run)
    result = await asyncio.wait_for(handle.result(), 60)
    figures.settle_seconds = time.monotonic() - reset_at
    figures.show()

    after = (await rows_by_kind(db, booking.id), _mails_to(mail, booking))
    assert before[0]["gateway_refund"] == 1, before
    assert before[1][CANCELLED_MAIL] == 1, before
    assert after == before, (before, after)
    order = (await sandbox.get(f"/v1/orders/{booking.order_id}")).json()
    assert order["amount_refunded"] == order["amount_paid"] > 0, order
    # The new run learns the booking has ended and takes nothing; the row keeps the truth.
    assert result["status"] == "FAILED", result
    done = await view(api, booking)
    assert (done["status"], done["payment"]["status"]) == ("CANCELLED", "REFUNDED")
