"""Every idempotency key the engine writes, each defined once.

A key names a side effect by the booking and the saga step that causes it,
never by the attempt, so a retried activity (or a replayed request) finds the
row it wrote before and writes nothing twice. Steps that can repeat within one
booking carry what makes each occurrence distinct: the move number of a
reschedule, the gateway's payment id, the webhook's event id.
"""

from __future__ import annotations

import uuid

from models.domain import NotificationKind


def _move(move: int | None, ops: uuid.UUID | None = None) -> str:
    """What tells one refund of a booking from another: a move's number, an operator's request."""
    if ops is not None:
        return f":ops:{ops}"
    return "" if move is None else f":move:{move}"


def wallet_debit(booking_id: uuid.UUID) -> str:
    """The ledger key of a booking's wallet debit (``{booking_id}:debit``)."""
    return f"{booking_id}:debit"


def wallet_refund(
    booking_id: uuid.UUID, move: int | None = None, ops: uuid.UUID | None = None
) -> str:
    """The ledger key of a wallet refund: the booking's own, a move's or an operator's."""
    return f"{booking_id}{_move(move, ops)}:refund"


def move_debit(booking_id: uuid.UUID, move: int) -> str:
    """The ledger key of what the ``move``-th move to a dearer slot took from the wallet."""
    return f"{booking_id}:move:{move}:debit"


def wallet_credit(customer_id: uuid.UUID, request_id: uuid.UUID) -> str:
    """The ledger key of an operator credit, one per idempotent request."""
    return f"credit:{customer_id}:{request_id}"


def gateway_order(booking_id: uuid.UUID) -> str:
    """The key sent to the gateway when creating the booking's order."""
    return f"{booking_id}:order"


def gateway_capture(owner_id: uuid.UUID, payment_id: str) -> str:
    """The ``gateway_transactions`` key of one captured payment of a booking or a top-up."""
    return f"{owner_id}:capture:{payment_id}"


def topup_credit(topup_id: uuid.UUID) -> str:
    """The ledger key of a top-up's credit: one per top-up, whatever pays it."""
    return f"{topup_id}:credit"


def topup_refund(topup_id: uuid.UUID, payment_id: str) -> str:
    """The key of a refund of one of a top-up's payments (ledger row and gateway request)."""
    return f"{topup_id}:refund:{payment_id}"


def gateway_refund(
    booking_id: uuid.UUID, payment_id: str, move: int | None = None, ops: uuid.UUID | None = None
) -> str:
    """The key of a gateway refund of ``payment_id`` (stored and sent to the gateway)."""
    return f"{booking_id}{_move(move, ops)}:refund:{payment_id}"


def notification(booking_id: uuid.UUID, kind: NotificationKind, about: str | None = None) -> str:
    """The outbox key of a notification; ``about`` tells repeated kinds apart."""
    suffix = "" if about is None else f":{about}"
    return f"{booking_id}:notify:{kind.value}{suffix}"


def audit(booking_id: uuid.UUID, action: str) -> str:
    """The key of an audit record: one per booking and action."""
    return f"{booking_id}:audit:{action}"


def timeline(booking_id: uuid.UUID, step: str) -> str:
    """The key of a timeline row; ``step`` defaults to the event type at the caller."""
    return f"{booking_id}:{step}"


def moved_step(move: int) -> str:
    """The timeline step of the ``move``-th reschedule."""
    return f"booking.rescheduled:move:{move}"


def webhook_step(provider: str, event_id: str) -> str:
    """The timeline step of a received gateway event."""
    return f"webhook:{provider}:{event_id}"


def refund_step(
    event_type: str, payment_id: str, move: int | None = None, ops: uuid.UUID | None = None
) -> str:
    """The timeline step of a gateway refund's request or result."""
    return f"{event_type}{_move(move, ops)}:{payment_id}"


def attention_step(reason: str) -> str:
    """The timeline step of an operator flag; the same reason flags once."""
    return f"operator.attention:{reason[:80]}"


def meeting_alert_step(run_id: str | None, alert: str | None) -> str:
    """The timeline step of a meeting-link alert, once per workflow run and alert text."""
    return f"meeting.alert:{run_id}:{alert}"
