"""A wallet booking's decision in one step: hold, debit and (offline) meeting link.

When the wallet covers the price, the hold and the debit are one transaction:
the booking is written CONFIRMED in the commit that takes its capacity, with
its confirmation's outbox row when the link is made here (SKIPPED, and done,
for a booking with no address to write to).

The create call waits for exactly this, as one local activity (one marker; the
measurements are in docs/performance-notes.md). It tries the confirmation mail
once, before the workflow can hear of a later change, so the mails keep their
order; a failed attempt leaves the mail to the workflow's notification step.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notifications import owe_notification
from activities.slots import Held, Payment, PayOnHold
from core.crashpoints import CrashPoint, crash_point
from integrations.meetings import MeetingProvider
from models.domain import NotificationKind, NotificationStatus
from models.errors import ErrorCode, charge_refusal
from models.payloads.decision import WalletDecision
from models.payloads.meetings import CreateMeetingInput, MeetingLink
from models.payloads.notifications import SendNotificationInput, SendNotificationResult
from models.payloads.slots import HoldSlotInput, SlotHold
from models.payloads.wallet import ChargeWalletInput

log = structlog.get_logger(__name__)

# The confirmation's try inside the decision: the create call waits for it, so
# it gets a short SMTP timeout and a bound well inside the step's own.
CONFIRMATION_SMTP_TIMEOUT = 1.0
CONFIRMATION_BOUND_SECONDS = 2.0


class Holds(Protocol):
    """The hold half (``activities.slots.SlotActivities``)."""

    async def hold(self, request: HoldSlotInput, pay: PayOnHold | None = None) -> Held:
        """Hold (paid in the same commit when ``pay`` says so), or raise the hold's refusal."""
        ...


class Charges(Protocol):
    """The debit half (``activities.wallet.WalletActivities``)."""

    async def charge(self, request: ChargeWalletInput, meeting: MeetingLink | None = None) -> None:
        """Debit and confirm (with ``meeting`` READY), or raise the debit's refusal."""
        ...

    async def pay_on_hold(
        self,
        session: AsyncSession,
        hold: SlotHold,
        customer_id: uuid.UUID,
        meeting: MeetingLink | None = None,
    ) -> Payment | None:
        """The debit in a new hold's transaction when the wallet covers it, or None."""
        ...


class Mails(Protocol):
    """The notification outbox (``activities.notifications.NotificationActivities``)."""

    async def deliver(
        self, request: SendNotificationInput, *, smtp_timeout: float = ...
    ) -> SendNotificationResult:
        """One attempt through the outbox; raise when it failed and may be retried."""
        ...


class DecisionActivities:
    """The hold and the debit of a wallet booking, decided together."""

    def __init__(
        self,
        slots: Holds,
        wallet: Charges,
        meetings: Mapping[str, MeetingProvider],
        mails: Mails,
    ) -> None:
        self._slots = slots
        self._wallet = wallet
        self._meetings = meetings
        self._mails = mails

    @activity.defn(name="decide_wallet")
    async def decide_wallet(self, request: HoldSlotInput) -> WalletDecision:
        """Hold the slot, debit the wallet and confirm: one transaction when the wallet covers it.

        The booking is then written CONFIRMED with its debit in the commit that
        takes its capacity. Otherwise (the balance is short, or a retry finds
        the hold written) the debit is a second transaction, which finds an
        earlier debit or refuses. Each write is idempotent on its own (the
        booking row, the debit's ledger key), so a retry of the whole step
        redoes neither. A refusal of the hold raises as ``hold_slot`` does
        (nothing was taken). A refusal of the debit comes after the hold
        committed, and its error carries ``CHARGE_REFUSED`` in its details so
        the workflow releases the slot. When the resource's provider is
        offline, the meeting link is written with the confirmation, READY, and
        the confirmation mail is tried once (``confirmation`` says how it went;
        None leaves it to the workflow).
        """
        meeting: MeetingLink | None = None
        recipient = request.contact.email if request.contact else None

        async def pay(session: AsyncSession, hold: SlotHold) -> Payment | None:
            nonlocal meeting
            meeting = await self._offline_link(hold)
            payment = await self._wallet.pay_on_hold(session, hold, request.customer_id, meeting)
            if payment is None or meeting is None:
                return payment  # No link yet: the workflow owes the mail after create_meeting.

            async def write(session: AsyncSession) -> None:
                await payment.write(session)
                # The confirmation is owed from the commit that confirms: its outbox row
                # is written with it (SKIPPED, and done, for a booking with no address).
                await owe_notification(
                    session, hold.booking_id, NotificationKind.BOOKING_CONFIRMED, recipient
                )

            return replace(payment, write=write)

        held = await self._slots.hold(request, pay)
        hold = held.hold
        if held.paid:
            crash_point(CrashPoint.DEBIT_COMMITTED)
            if meeting is not None and recipient is None:
                # Its outbox row went in SKIPPED with the confirmation: nothing to send.
                return WalletDecision(
                    hold=hold, meeting=meeting, confirmation=NotificationStatus.SKIPPED
                )
            return await self._decided(hold, meeting)
        # A retry that found its hold, or a balance that did not cover the price.
        meeting = await self._offline_link(hold)
        try:
            await self._wallet.charge(
                ChargeWalletInput(
                    booking_id=hold.booking_id,
                    customer_id=request.customer_id,
                    amount=hold.amount,
                    currency=hold.currency,
                ),
                meeting,
            )
        except ApplicationError as err:
            if err.non_retryable and err.type in ErrorCode.__members__:
                raise charge_refusal(err) from err
            raise
        return await self._decided(hold, meeting)

    async def _decided(self, hold: SlotHold, meeting: MeetingLink | None) -> WalletDecision:
        if meeting is None:
            return WalletDecision(hold=hold)
        return WalletDecision(hold=hold, meeting=meeting, confirmation=await self._confirm(hold))

    async def _confirm(self, hold: SlotHold) -> NotificationStatus | None:
        """Send the confirmation once, or None: the booking is decided whatever this does."""
        try:
            async with asyncio.timeout(CONFIRMATION_BOUND_SECONDS):
                sent = await self._mails.deliver(
                    # The booking's first calendar invite: SEQUENCE 0.
                    SendNotificationInput(
                        booking_id=hold.booking_id, kind=NotificationKind.BOOKING_CONFIRMED
                    ),
                    smtp_timeout=CONFIRMATION_SMTP_TIMEOUT,
                )
        # Any failure class: the workflow's notification step retries and classifies it.
        except Exception as exc:
            log.warning(
                "notification.left_to_workflow",
                booking_id=str(hold.booking_id),
                kind=NotificationKind.BOOKING_CONFIRMED,
                error=type(exc).__name__,
            )
            return None
        return sent.status

    async def _offline_link(self, hold: SlotHold) -> MeetingLink | None:
        provider = self._meetings.get(hold.meeting_provider)
        if provider is None or not provider.offline:
            return None  # Made after the decision by create_meeting, which may retry.
        return await provider.create(
            CreateMeetingInput(
                booking_id=hold.booking_id,
                provider=hold.meeting_provider,
                starts_at=hold.starts_at,
                ends_at=hold.ends_at,
            )
        )
