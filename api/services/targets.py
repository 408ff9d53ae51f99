"""What a create books, read before its key is claimed: a slot, or a range of a resource.

Every create reads its slot, and a burst reads the same slot hundreds of times
at once: :class:`Targets` reads the slots of one moment in one statement per
round (:class:`~core.rounds.Rounds`), each slot once. A range is read on its
own, with its resource's rules.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ARRAY, Uuid, bindparam, select

from api.services.commands import CreateBooking
from core.db import SessionFactory, autocommit
from core.rounds import Batch, Rounds
from models.availability import RangeRules, RuleViolation, check_range
from models.db import Resource, Slot
from models.domain import has_started
from models.errors import BookingError, ErrorCode


@dataclass(frozen=True)
class Seats:
    """A slot's seats as one read saw them: what the gate and the early refusal go on."""

    slot_id: uuid.UUID
    starts_at: datetime
    capacity: int
    active_count: int

    def free(self) -> int:
        """Seats a create could still take: none once the slot has started (the hold's rule)."""
        if has_started(self.starts_at, datetime.now(UTC)):
            return 0
        return self.capacity - self.active_count


@dataclass(frozen=True)
class Target:
    """What a create books: a slot, or a range of a range resource, and its price."""

    resource_id: uuid.UUID
    resource_name: str
    timezone: str
    starts_at: datetime
    amount: int
    currency: str
    seats: Seats | None = None  # a slot's; None for a range


# The slots and their resources' few fields a create needs, as plain columns: loading two
# ORM objects per request would cost more than the read itself.
_SLOTS = (
    select(
        Slot.id,
        Slot.starts_at,
        Slot.capacity,
        Slot.active_count,
        Slot.price_amount,
        Slot.currency,
        Resource.id.label("resource_id"),
        Resource.name,
        Resource.timezone,
    )
    .join(Resource)
    .where(Slot.id == bindparam("ids", type_=ARRAY(Uuid)).any_())
)
_SEATS = select(Slot.id, Slot.starts_at, Slot.capacity, Slot.active_count).where(
    Slot.id == bindparam("slot_id")
)


class Targets:
    """Reads what creates book (one process's)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._autocommit = autocommit(sessions)
        self._slots: Rounds[uuid.UUID, Target | None] = Rounds(self._read_slots)

    async def of(self, request: CreateBooking) -> Target:
        """The slot or range the request names, checked as far as a read can.

        Raises:
            BookingError: SLOT_NOT_FOUND or RESOURCE_NOT_FOUND; VALIDATION_ERROR naming
                the field when a range breaks the resource's rules (or the resource is
                booked by slot).
        """
        if request.slot_id is not None:
            target = await self._slots.submit(request.slot_id)
            if target is None:
                raise BookingError(ErrorCode.SLOT_NOT_FOUND)
            return target
        assert request.resource_id is not None
        assert request.starts_at is not None
        assert request.ends_at is not None
        async with self._sessions() as session:
            resource = await session.get(Resource, request.resource_id)
        if resource is None:
            raise BookingError(ErrorCode.RESOURCE_NOT_FOUND)
        if resource.range_rules is None:
            raise BookingError(
                ErrorCode.VALIDATION_ERROR, "resource_id: this resource is booked by slot_id"
            )
        rules = RangeRules.parse(resource.timezone, resource.range_rules)
        try:
            price = check_range(rules, request.starts_at, request.ends_at, datetime.now(UTC))
        except RuleViolation as violation:
            raise BookingError(ErrorCode.VALIDATION_ERROR, str(violation)) from None
        return Target(
            resource.id, resource.name, resource.timezone, request.starts_at, price, rules.currency
        )

    async def free_seats(self, slot_id: uuid.UUID) -> int:
        """The slot's free seats now (0 for a slot that is gone)."""
        async with self._autocommit.connect() as conn:
            row = (await conn.execute(_SEATS, {"slot_id": slot_id})).one_or_none()
        return 0 if row is None else Seats(*row).free()

    async def _read_slots(self, batch: Batch[uuid.UUID, Target | None]) -> None:
        async with self._autocommit.connect() as conn:
            rows = await conn.execute(_SLOTS, {"ids": list({slot_id for slot_id, _ in batch})})
            found = {
                row.id: Target(
                    row.resource_id,
                    row.name,
                    row.timezone,
                    row.starts_at,
                    row.price_amount,
                    row.currency,
                    Seats(row.id, row.starts_at, row.capacity, row.active_count),
                )
                for row in rows
            }
        for slot_id, answered in batch:
            if not answered.done():  # its caller may have gone
                answered.set_result(found.get(slot_id))
