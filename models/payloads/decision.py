"""Result of ``activities.decision``; its input is :class:`~models.payloads.slots.HoldSlotInput`."""

from __future__ import annotations

from models.domain import NotificationStatus
from models.payloads.common import Frozen
from models.payloads.meetings import MeetingLink
from models.payloads.slots import SlotHold


class WalletDecision(Frozen):
    """What ``decide_wallet`` decided: held and paid, and the link when it needed no network."""

    hold: SlotHold
    meeting: MeetingLink | None = None
    # The confirmation mail's outcome when this step sent it (None: the workflow sends it).
    confirmation: NotificationStatus | None = None
