"""The booking in words, as operators read it in the Temporal UI's current details.

Pure functions over what the workflow knows: no personal data (the hold's
words are made by the hold step without it), and the ops calls named from
:mod:`models.ops_calls`. Passed through the sandbox (docs/determinism.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from models.ops_calls import RETRY_MEETING, RETRY_PENDING_STEPS
from models.payloads import SlotHold


def booking_words(hold: SlotHold) -> str:
    """The booking: resource, local start, price; the slot or resource id without them."""
    if not hold.resource_name:
        return f"slot {hold.slot_id}" if hold.slot_id else f"resource {hold.resource_id}"
    return f"{hold.resource_name}, {hold.starts_text}, {hold.price_text}"


def price_words(hold: SlotHold) -> str:
    """The price formatted, or its minor units when the hold carries no words."""
    return hold.price_text or str(hold.amount)


def ready_words(hold: SlotHold) -> str:
    """A confirmed booking with its meeting link, open until its time ends."""
    return (
        "confirmed; meeting link ready; open until the booked time ends "
        f"({hold.ends_at:%Y-%m-%d %H:%M} UTC)"
    )


def waiting_words(
    provider: str, hold: SlotHold, order_id: str | None, deadline: datetime, note: str = ""
) -> str:
    """A gateway booking waiting for its payment, and what happens if none comes."""
    return (
        f"waiting for {provider} payment of {price_words(hold)} for "
        f"order {order_id} until {deadline:%Y-%m-%d %H:%M:%S} UTC{note}; unpaid by "
        "then, the slot is released (EXPIRED)"
    )


def meeting_missing_words(provider: str, alert: str, booking_id: uuid.UUID) -> str:
    """A confirmed booking whose meeting link is missing, and the call that retries it."""
    return (
        f"confirmed, but the {provider} meeting link is missing ({alert}). "
        f"Waiting for an operator: {RETRY_MEETING.words(booking_id)}"
    )


def pending_words(
    steps: Iterable[str], last_error: str, next_try: datetime | None, booking_id: uuid.UUID
) -> str:
    """What the details add while must-happen steps are pending, and the call that retries them."""
    when = f"Next try at {next_try:%H:%M:%S} UTC" if next_try else "Tried again when asked"
    return (
        f". Needs attention: {'; '.join(steps)}. Last error: {last_error}. {when}, "
        f"or at once: {RETRY_PENDING_STEPS.words(booking_id)}"
    )
