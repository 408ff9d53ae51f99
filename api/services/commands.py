"""What a route asks of the services: frozen commands built from a validated request.

A route turns its HTTP body into one of these and passes it down; nothing
below the routes sees an HTTP schema, so a service reads the same whether a
request, a test or a script asked. Each command holds values the edge has
validated already (ranges, lengths, currencies); the services check what only
they can (configured gateways, the slot, the booking's state).

An idempotent command's :meth:`fingerprint` is what its Idempotency-Key is
claimed with. It has the field names and nesting of the request body and is
serialized as pydantic serializes the body, so it equals the body's JSON:
a key claimed before a deploy still matches its retry after one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python

from models.domain import NotificationKind, PaymentMethod


def _fingerprint(command: object) -> dict[str, Any]:
    body: dict[str, Any] = to_jsonable_python(command)
    # Absent, a field added later leaves the fingerprints of keys claimed before it as they were.
    if body.get("return_url", "") is None:
        del body["return_url"]
    return body


@dataclass(frozen=True)
class MoneyAmount:
    """An amount in minor units and its ISO 4217 currency."""

    amount: int
    currency: str


@dataclass(frozen=True)
class PaymentChoice:
    """How a booking is paid: from the wallet, or through a named gateway."""

    method: PaymentMethod
    provider: str | None = None


@dataclass(frozen=True)
class ContactDetails:
    """Where to notify the customer. Personal data: never logged."""

    email: str | None = None
    name: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class CreateBooking:
    """Book a slot (``slot_id``) or a range of a resource (``resource_id`` and both times)."""

    payment: PaymentChoice
    slot_id: uuid.UUID | None = None
    resource_id: uuid.UUID | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    contact: ContactDetails | None = None
    return_url: str | None = None

    def fingerprint(self) -> dict[str, Any]:
        """The request's JSON, which its Idempotency-Key is claimed with.

        A contact without a timezone is fingerprinted without the key, as before
        the field existed: a retry of a key claimed then still matches.
        """
        body = _fingerprint(self)
        contact = body.get("contact")
        if isinstance(contact, dict) and contact.get("timezone") is None:
            contact.pop("timezone", None)
        return body


@dataclass(frozen=True)
class MoveBooking:
    """Move a booking to another slot (``slot_id``), or a range booking to new times."""

    slot_id: uuid.UUID | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True)
class CreateTopup:
    """Add ``amount`` to the caller's wallet, paid through the gateway ``provider``."""

    amount: MoneyAmount
    provider: str
    return_url: str | None = None

    def fingerprint(self) -> dict[str, Any]:
        """The request's JSON, which its Idempotency-Key is claimed with."""
        return _fingerprint(self)


@dataclass(frozen=True)
class CreditWallet:
    """An operator adds ``amount`` to a customer's wallet, with the ledger's reason."""

    amount: MoneyAmount
    reason: str

    def fingerprint(self) -> dict[str, Any]:
        """The request's JSON, which its Idempotency-Key is claimed with."""
        return _fingerprint(self)


@dataclass(frozen=True)
class RefundBooking:
    """An operator refunds ``amount`` of a booking's payment (None: all that is left)."""

    reason: str
    amount: MoneyAmount | None = None

    def fingerprint(self) -> dict[str, Any]:
        """The request's JSON, which its Idempotency-Key is claimed with."""
        return _fingerprint(self)


@dataclass(frozen=True)
class ResendNotification:
    """An operator sends one of a booking's notifications again."""

    kind: NotificationKind
    note: str | None = None


@dataclass(frozen=True)
class NewResource:
    """A resource as it is stored: booked by slot, or by range under ``range_rules``."""

    name: str
    timezone: str
    meeting_provider: str
    refund_policy: dict[str, Any]
    booking_mode: str
    range_rules: dict[str, Any] | None


@dataclass(frozen=True)
class NewSlot:
    """One slot to create."""

    starts_at: datetime
    ends_at: datetime
    price: MoneyAmount
    capacity: int
