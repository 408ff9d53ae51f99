"""A wallet booking's decision in one step: hold, debit and (offline) meeting link.

The create call waits for exactly this. Run as one local activity, it costs
the workflow one marker instead of two, and, when the meeting provider needs
no network (Jitsi), no remote meeting activity and no second workflow task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.meetings import MeetingProvider
from models.errors import ErrorCode, charge_refusal
from models.payloads import (
    ChargeWalletInput,
    CreateMeetingInput,
    HoldSlotInput,
    MeetingLink,
    SlotHold,
    WalletDecision,
)


class Holds(Protocol):
    """The hold half (``activities.slots.SlotActivities``)."""

    async def hold_slot(self, request: HoldSlotInput) -> SlotHold:
        """Hold, or raise the hold's refusal."""
        ...


class Charges(Protocol):
    """The debit half (``activities.wallet.WalletActivities``)."""

    async def charge(self, request: ChargeWalletInput, meeting: MeetingLink | None = None) -> None:
        """Debit and confirm (with ``meeting`` READY), or raise the debit's refusal."""
        ...


class DecisionActivities:
    """The hold and the debit of a wallet booking, decided together."""

    def __init__(
        self, slots: Holds, wallet: Charges, meetings: Mapping[str, MeetingProvider]
    ) -> None:
        self._slots = slots
        self._wallet = wallet
        self._meetings = meetings

    @activity.defn(name="decide_wallet")
    async def decide_wallet(self, request: HoldSlotInput) -> WalletDecision:
        """Hold the slot, then debit the wallet and confirm; two transactions, one step.

        Each half is idempotent on its own (the booking row, the debit's ledger
        key), so a retry of the whole step redoes neither. A refusal of the
        hold raises as ``hold_slot`` does (nothing was taken). A refusal of the
        debit comes after the hold committed, and its error carries
        ``CHARGE_REFUSED`` in its details so the workflow releases the slot.
        When the resource's provider is offline, the meeting link is written
        in the debit's transaction, READY with the confirmation.
        """
        hold = await self._slots.hold_slot(request)
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
        return WalletDecision(hold=hold, meeting=meeting)

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
