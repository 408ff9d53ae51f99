"""The booking saga on the real dev server with real activities: crashes, retries, completion."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Mapping

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from activities.decision import DecisionActivities
from activities.notifications import NotificationActivities
from activities.slots import Held, Payment, PayOnHold, SlotActivities
from activities.wallet import WalletActivities
from core.codec import data_converter
from core.db import SessionFactory
from core.settings import Settings
from integrations.meetings import MeetingProvider
from models.db import Booking, LedgerEntry, Slot
from models.payloads import (
    SAGA_VERSION,
    BookingInput,
    BookingResult,
    ChargeWalletInput,
    Contact,
    HoldSlotInput,
    MeetingLink,
    PaymentSpec,
    SendNotificationInput,
    SendNotificationResult,
    SlotHold,
)
from models.search_attributes import BOOKING_STATUS, RESOURCE_ID
from stack.embedded import free_port
from stack.mailsink import MailSink
from worker import SANDBOX, engine_activities, meeting_providers
from workflows.booking import BookingWorkflow

from support.auth import PAYLOAD_KEYS
from support.catalog import book, fund, make_slot
from support.db import outbox_of, timeline_of
from support.engine import engine_on_queue, replace_activity
from support.histories import record_history
from support.mail import text_of
from support.workflows import settled, until_state


class CrashAfterCommit:
    """The decision's two halves doing their real work, each dying once after its commit."""

    def __init__(
        self,
        sessions: SessionFactory,
        settings: Settings,
        providers: Mapping[str, MeetingProvider],
    ) -> None:
        self.slots = SlotActivities(sessions)
        self.wallet = WalletActivities(sessions)
        mails = NotificationActivities(sessions, settings)
        self.decision = DecisionActivities(self, self, providers, mails)
        # (half, the attempt of decide_wallet it crashed in)
        self.crashes: list[tuple[str, int]] = []
        self.attempts = 0

    def _crash_once(self, half: str) -> None:
        self.attempts = activity.info().attempt
        if half not in {crashed for crashed, _ in self.crashes}:
            self.crashes.append((half, self.attempts))
            # A lost connection is transient: the step is retried (a defect would not be).
            raise ConnectionResetError(f"worker lost its connection after {half} committed")

    async def hold(self, request: HoldSlotInput, pay: PayOnHold | None = None) -> Held:
        held = await self.slots.hold(request, pay)
        self._crash_once("hold")
        return held

    async def pay_on_hold(
        self,
        session: AsyncSession,
        hold: SlotHold,
        customer_id: uuid.UUID,
        meeting: MeetingLink | None = None,
    ) -> Payment | None:
        return await self.wallet.pay_on_hold(session, hold, customer_id, meeting)

    async def charge(self, request: ChargeWalletInput, meeting: MeetingLink | None = None) -> None:
        await self.wallet.charge(request, meeting)
        self._crash_once("debit")


async def test_retry_after_commit_holds_and_debits_once(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
) -> None:
    """Crashes after each commit; the decision is retried: one hold, one debit.

    The covered wallet's hold and debit commit together in the first attempt,
    which then crashes; the second finds the booking paid, its debit step
    finds the debit, and crashes after it; the third answers.
    """
    crashing = CrashAfterCommit(sessions, settings, meeting_providers(settings, http_for_providers))
    activities = engine_activities(settings, sessions, http_for_providers)
    activities = replace_activity(activities, crashing.decision.decide_wallet)
    customer = uuid.uuid4()

    async with engine_on_queue(temporal, settings, activities) as api:
        slot = await make_slot(api, price=4_000, capacity=3)
        await fund(api, customer, 10_000)
        response = await book(api, customer, slot["id"])

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "CONFIRMED"
    assert crashing.crashes == [("hold", 1), ("debit", 2)]
    assert crashing.attempts == 3
    booking_id = uuid.UUID(response.json()["id"])
    async with sessions() as session:
        debits = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.booking_id == booking_id, LedgerEntry.kind == "debit")
        )
        held = await session.scalar(select(Slot.active_count).where(Slot.id == slot["id"]))
        booking = await session.get(Booking, booking_id)
    assert debits == 1
    assert held == 1
    # The Jitsi link was written with the debit, in the attempt that committed it.
    assert booking is not None
    assert (booking.meeting_status, booking.status) == ("READY", "CONFIRMED")
    assert booking.meeting_url is not None


async def _book_with_mail(
    api: httpx.AsyncClient, temporal: Client, email: str
) -> tuple[str, WorkflowHandle[BookingWorkflow, BookingResult]]:
    """A funded customer's wallet booking with a contact address, answered CONFIRMED."""
    customer = uuid.uuid4()
    slot = await make_slot(api, price=1_500)
    await fund(api, customer, 1_500)
    response = await book(api, customer, slot["id"], contact={"email": email})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "CONFIRMED"
    booking_id = response.json()["id"]
    return booking_id, temporal.get_workflow_handle_for(
        BookingWorkflow.run, f"booking-{booking_id}"
    )


async def test_confirmed_booking_gets_meeting_and_email_then_waits_for_its_slot(
    temporal: Client,
    api: httpx.AsyncClient,
    sessions: SessionFactory,
    mail_sink: MailSink,
) -> None:
    """CONFIRMED, READY Jitsi link, one email, search attributes; then it waits for the end."""
    booking_id, handle = await _book_with_mail(api, temporal, "asha@example.com")

    described = await handle.describe()
    assert described.typed_search_attributes.get(BOOKING_STATUS) == "CONFIRMED"
    assert described.typed_search_attributes.get(RESOURCE_ID) is not None
    state = await until_state(handle, settled("CONFIRMED"))

    assert state.meeting_status == "READY"
    async with sessions() as session:
        booking = await session.get(Booking, uuid.UUID(booking_id))
        assert booking is not None
        assert booking.meeting_status == "READY"
        assert booking.meeting_url is not None
        assert booking.meeting_url.startswith("https://meet.jit.si/booking-")
    assert (await outbox_of(sessions, booking.id)).status == "SENT"
    assert [e.type for e in await timeline_of(sessions, booking.id)] == [
        "booking.held",
        "payment.captured",
        "booking.confirmed",
        "meeting.ready",
    ]
    mails = [m for m in mail_sink.messages() if booking_id in text_of(m)]
    assert len(mails) == 1
    assert mails[0]["To"] == "asha@example.com"
    assert booking.meeting_url in text_of(mails[0])

    # The history this run produced replays against the current code.
    await record_history(handle, "wallet_confirmed_update_with_start")
    history = await handle.fetch_history()
    # Its shape until the slot ends (saga version 2): the create call's one workflow
    # task, whose one local activity (the decision) also sent the mail, then the wait.
    kinds = [event.WhichOneof("attributes") for event in history.events]
    assert kinds.count("workflow_task_completed_event_attributes") == 1, kinds
    assert kinds.count("activity_task_scheduled_event_attributes") == 0, kinds
    assert kinds.count("marker_recorded_event_attributes") == 1, kinds
    assert len(kinds) <= 9, kinds
    await Replayer(
        workflows=[BookingWorkflow],
        data_converter=data_converter(PAYLOAD_KEYS),
        workflow_runner=SANDBOX,
    ).replay_workflow(history)


class AttemptedMails:
    """The outbox behind a given SMTP server, noting the decide_wallet attempt of each try."""

    def __init__(self, sessions: SessionFactory, settings: Settings, smtp_port: int) -> None:
        self._mails = NotificationActivities(
            sessions, settings.model_copy(update={"smtp_port": smtp_port})
        )
        self.attempts: list[int] = []

    async def deliver(
        self, request: SendNotificationInput, *, smtp_timeout: float = 10.0
    ) -> SendNotificationResult:
        self.attempts.append(activity.info().attempt)
        return await self._mails.deliver(request, smtp_timeout=smtp_timeout)


@pytest.mark.parametrize("smtp", ["refusing", "silent"])
async def test_a_confirmation_the_decision_could_not_send_is_sent_by_the_workflow(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
    mail_sink: MailSink,
    smtp: str,
) -> None:
    """SMTP refuses, or never answers, the decision's try: CONFIRMED at once; the step sends it.

    The silent server accepts the connection and says nothing: the decision's
    short SMTP timeout ends the try within the decision's one attempt.
    """
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1] if smtp == "silent" else free_port()
        mails = AttemptedMails(sessions, settings, port)
        decision = DecisionActivities(
            SlotActivities(sessions),
            WalletActivities(sessions),
            meeting_providers(settings, http_for_providers),
            mails,
        )
        activities = replace_activity(
            engine_activities(settings, sessions, http_for_providers), decision.decide_wallet
        )
        async with engine_on_queue(temporal, settings, activities) as api:
            booking_id, handle = await _book_with_mail(api, temporal, "ravi@example.com")
            await until_state(handle, settled("CONFIRMED"))

    assert mails.attempts == [1]  # one try, inside the decision's first attempt
    outbox = await outbox_of(sessions, uuid.UUID(booking_id))
    assert outbox.status == "SENT"
    if smtp == "refusing":
        # The refused try is recorded as the first attempt; the workflow's step made the second.
        # (A silent server's try may instead be cut by the 2 s bound, before it is recorded.)
        assert outbox.attempts == 2
    assert len([m for m in mail_sink.messages() if booking_id in text_of(m)]) == 1
    history = await handle.fetch_history()
    markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    assert len(markers) == 2  # the decision, then the confirmation as its own step


async def test_refused_booking_workflow_completes_failed_with_its_reason(
    temporal: Client, api: httpx.AsyncClient, sessions: SessionFactory
) -> None:
    """Insufficient funds: the workflow ends FAILED with the reason, its booking row likewise."""
    slot = await make_slot(api, price=3_000)
    response = await book(api, uuid.uuid4(), slot["id"])
    assert response.status_code == 402
    async with sessions() as session:
        booking = (
            await session.execute(select(Booking).where(Booking.slot_id == uuid.UUID(slot["id"])))
        ).scalar_one()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, booking.workflow_id)

    result = await handle.result()

    assert (result.status, result.reason) == ("FAILED", "INSUFFICIENT_FUNDS")
    assert (booking.status, booking.reason) == ("FAILED", "INSUFFICIENT_FUNDS")
    described = await handle.describe()
    assert described.typed_search_attributes.get(BOOKING_STATUS) == "FAILED"
    await record_history(handle, "wallet_insufficient_funds_update_with_start")


async def test_a_value_postgresql_refuses_fails_the_hold_at_once_and_frees_everything(
    temporal: Client, settings: Settings, sessions: SessionFactory, api: httpx.AsyncClient
) -> None:
    """Poison past the edge (a NUL in the contact): one hold attempt, FAILED at once, slot free.

    The API refuses such input with 422; this drives the workflow directly, as a
    client that bypasses the API would, to pin that the worker does not loop on it.
    """
    slot = await make_slot(api, price=1_000)
    booking_id = uuid.uuid4()
    handle = await temporal.start_workflow(
        BookingWorkflow.run,
        BookingInput(
            booking_id=booking_id,
            customer_id=uuid.uuid4(),
            slot_id=uuid.UUID(slot["id"]),
            payment=PaymentSpec(method="wallet"),
            contact=Contact(name="nul\x00here"),
            saga_version=SAGA_VERSION,
        ),
        id=f"booking-{booking_id}",
        task_queue=settings.task_queue,
    )

    decision = await handle.execute_update(BookingWorkflow.create, id="create")
    result = await handle.result()

    # INTERNAL, not DEPENDENCY_UNAVAILABLE: classified a defect at the first attempt
    # rather than retried until the decision's 30 s bound ran out.
    assert (decision.status, decision.reason) == ("FAILED", "INTERNAL")
    assert result.status == "FAILED"
    async with sessions() as session:
        held = await session.get(Slot, uuid.UUID(slot["id"]), populate_existing=True)
    assert held is not None
    assert held.active_count == 0
