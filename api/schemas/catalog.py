"""Resources, their rules and hours, slots, and what is free (``api.routes.catalog``).

A resource is booked by pre-made slots, or by range (any free span, priced by
its rate and bounded by its hours). Its rules are the same fields on create,
on change and when read: each is an alias below, described once; only the
create body bounds them, because a change is validated by merging it into a
create body (:func:`api.services.catalog.update_resource`).
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from api.schemas.common import (
    CreatedAt,
    End,
    Id,
    Money,
    Price,
    ResourceId,
    SlotIdOrNone,
    Start,
    Strict,
    T,
)
from api.services.commands import NewResource, NewSlot
from api.validation import Instant, Text, iana_zone
from models.errors import BookingError, ErrorCode

# HH:MM from 00:00 to 24:00.
_CLOCK = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
_DAY_MINUTES = 1440

BookingMode = Literal["slots", "range"]
MeetingProvider = Literal["jitsi", "google"]
ResourceName = Annotated[T, Field(description="Shown to customers", examples=["Dr. Rao"])]
Timezone = Annotated[
    str,
    Field(
        description="IANA time zone of the resource's hours and of its mails",
        examples=["Asia/Kolkata"],
    ),
]
MeetingBy = Annotated[T, Field(description="Who makes the meeting link", examples=["jitsi"])]
# A range resource's rules, generic over the type: bounded ``int`` on create,
# ``int | None`` on a change (absent: unchanged) and when read (slot mode: none).
MinDuration = Annotated[T, Field(description="Range mode: shortest booking", examples=[60])]
MaxDuration = Annotated[T, Field(description="Range mode: longest booking", examples=[20160])]
BufferMinutes = Annotated[T, Field(description="Kept free after each booking", examples=[30])]
NoticeMinutes = Annotated[T, Field(description="How soon a booking may start", examples=[120])]
HorizonDays = Annotated[T, Field(description="How far ahead a booking may start", examples=[90])]


class RefundPolicy(Strict):
    """Full refund until ``full_refund_hours_before`` the start, then a percentage, none after."""

    full_refund_hours_before: int = Field(
        default=24,
        ge=0,
        le=24 * 365,
        description="Everything back until this many hours before the start",
        examples=[24],
    )
    late_refund_percent: int = Field(
        default=50,
        ge=0,
        le=100,
        description="After that, this percentage until the start; nothing after",
        examples=[50],
    )


class Rate(Strict):
    """What a range booking costs: per started hour or day."""

    per: Literal["hour", "day"] = Field(description="The unit charged", examples=["day"])
    price: Money = Field(
        description="The price of one started unit",
        examples=[{"amount": 250000, "currency": "INR"}],
    )


class WeeklyHours(Strict):
    """Weekly opening hours of a range resource, in its timezone."""

    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        description="Day of the week", examples=["mon"]
    )
    start: str = Field(pattern=_CLOCK, description="Local opening time, HH:MM", examples=["09:00"])
    end: str = Field(
        pattern=_CLOCK,
        description="Local closing time, HH:MM; 24:00 is the end of the day",
        examples=["17:00"],
    )


class SpecialDay(Strict):
    """One date that differs: without times it is closed; with times they are its hours."""

    date: dt.date = Field(description="The local date", examples=["2026-12-25"])
    start: str | None = Field(
        default=None, pattern=_CLOCK, description="Opening time that day", examples=["10:00"]
    )
    end: str | None = Field(
        default=None,
        pattern=_CLOCK,
        description="Closing time that day; 24:00 is the end of the day",
        examples=["14:00"],
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> SpecialDay:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither (the day is closed)")
        return self


class OpeningHours(Strict):
    """When a range resource is open: weekly hours, and dates that differ."""

    weekly: list[WeeklyHours] = Field(
        max_length=100,
        description="Opening hours per weekday (several a day allowed)",
        examples=[[{"day": "mon", "start": "09:00", "end": "17:00"}]],
    )
    exceptions: list[SpecialDay] = Field(
        default_factory=list,
        max_length=1000,
        description="Dates closed (no times) or open at other hours",
        examples=[[{"date": "2026-12-25"}]],
    )


def _ends_before_it_starts(start: str | None, end: str | None) -> bool:
    # 24:00 closes a day and never opens one; as text, HH:MM times order as times.
    if start is None or end is None:
        return False
    return start == "24:00" or (end != "24:00" and end <= start)


class ResourceIn(Strict):
    """Body of ``POST /v1/resources``: booked by pre-made slots, or by range."""

    name: ResourceName[Text] = Field(min_length=1, max_length=200)
    timezone: Timezone = "UTC"
    meeting_provider: MeetingBy[MeetingProvider] = "jitsi"
    refund_policy: RefundPolicy = Field(
        default_factory=RefundPolicy, description="How much a cancellation gives back"
    )
    booking_mode: BookingMode = Field(
        default="slots",
        description="slots: booked by slot_id; range: any free range by starts_at and ends_at",
        examples=["range"],
    )
    rate: Rate | None = Field(default=None, description="Range mode: the price per unit")
    min_duration_minutes: MinDuration[int | None] = Field(default=None, ge=1, le=366 * _DAY_MINUTES)
    max_duration_minutes: MaxDuration[int | None] = Field(default=None, ge=1, le=366 * _DAY_MINUTES)
    buffer_minutes: BufferMinutes[int] = Field(default=0, ge=0, le=7 * _DAY_MINUTES)
    min_notice_minutes: NoticeMinutes[int] = Field(default=0, ge=0, le=365 * _DAY_MINUTES)
    horizon_days: HorizonDays[int] = Field(default=365, ge=1, le=3650)
    availability: OpeningHours | None = Field(
        default=None, description="Range mode: when the resource is open"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return iana_zone(value)

    @model_validator(mode="after")
    def _mode_fields(self) -> ResourceIn:
        range_fields = {
            "rate": self.rate,
            "min_duration_minutes": self.min_duration_minutes,
            "max_duration_minutes": self.max_duration_minutes,
            "availability": self.availability,
        }
        if self.booking_mode == "slots":
            given = [name for name, value in range_fields.items() if value is not None]
            if given:
                raise ValueError(f"{given[0]}: only for booking_mode range")
            return self
        missing = [name for name, value in range_fields.items() if value is None]
        if missing:
            raise ValueError(f"{missing[0]}: required for booking_mode range")
        assert self.min_duration_minutes is not None
        assert self.max_duration_minutes is not None
        if self.min_duration_minutes > self.max_duration_minutes:
            raise ValueError("min_duration_minutes: more than max_duration_minutes")
        assert self.availability is not None
        for index, hours in enumerate(self.availability.weekly):
            if _ends_before_it_starts(hours.start, hours.end):
                raise ValueError(f"availability.weekly.{index}: end must be after start")
        for index, exception in enumerate(self.availability.exceptions):
            if _ends_before_it_starts(exception.start, exception.end):
                raise ValueError(f"availability.exceptions.{index}: end must be after start")
        return self

    def to_command(self) -> NewResource:
        """The resource as the services store it."""
        return NewResource(
            name=self.name,
            timezone=self.timezone,
            meeting_provider=self.meeting_provider,
            refund_policy=self.refund_policy.model_dump(),
            booking_mode=self.booking_mode,
            range_rules=self.range_rules(),
        )

    def range_rules(self) -> dict[str, Any] | None:
        """What the resource stores as its ``range_rules`` (None in slot mode)."""
        if self.booking_mode == "slots":
            return None
        return self.model_dump(
            mode="json",
            include={
                "rate",
                "min_duration_minutes",
                "max_duration_minutes",
                "buffer_minutes",
                "min_notice_minutes",
                "horizon_days",
                "availability",
            },
        )


class ResourcePatchIn(Strict):
    """Body of ``PATCH /v1/resources/{id}``: the fields to change (the mode stays)."""

    name: Text | None = Field(
        default=None, min_length=1, max_length=200, examples=["Car KA-01"], description="A new name"
    )
    timezone: str | None = Field(
        default=None, examples=["Asia/Kolkata"], description="A new time zone"
    )
    meeting_provider: MeetingProvider | None = Field(
        default=None, examples=["jitsi"], description="Another meeting provider"
    )
    refund_policy: RefundPolicy | None = Field(default=None, description="A new refund policy")
    rate: Rate | None = Field(default=None, description="A new rate (range mode)")
    min_duration_minutes: MinDuration[int | None] = Field(default=None, examples=[1440])
    max_duration_minutes: MaxDuration[int | None] = None
    buffer_minutes: BufferMinutes[int | None] = Field(default=None, examples=[60])
    min_notice_minutes: NoticeMinutes[int | None] = None
    horizon_days: HorizonDays[int | None] = Field(default=None, examples=[180])
    availability: OpeningHours | None = Field(
        default=None, description="New hours and exceptions (range mode)"
    )

    def applied_to(self, current: dict[str, Any]) -> NewResource:
        """The resource ``current`` (as the API shows it) with these changes, checked as a whole.

        Raises:
            BookingError: VALIDATION_ERROR naming the field, as a create body would.
        """
        merged = {**current, **self.model_dump(mode="json", exclude_unset=True)}
        if current["booking_mode"] == "slots":
            # A slot resource shows its range rules as nulls; a create body refuses them.
            merged = {k: v for k, v in merged.items() if k in _SLOT_FIELDS or v is not None}
        try:
            wanted = ResourceIn.model_validate(merged)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            raise BookingError(
                ErrorCode.VALIDATION_ERROR, f"{where}: {message}" if where else message
            ) from None
        return wanted.to_command()


_SLOT_FIELDS = frozenset({"name", "timezone", "meeting_provider", "refund_policy", "booking_mode"})


class ResourceOut(BaseModel):
    """A bookable resource."""

    id: Id
    name: ResourceName[str]
    timezone: Timezone = Field(description="IANA time zone")
    meeting_provider: MeetingBy[str]
    refund_policy: RefundPolicy = Field(description="How much a cancellation gives back")
    booking_mode: BookingMode = Field(description="slots or range", examples=["slots"])
    rate: Rate | None = Field(default=None, description="Range mode: the price per started unit")
    min_duration_minutes: MinDuration[int | None] = None
    max_duration_minutes: MaxDuration[int | None] = None
    buffer_minutes: BufferMinutes[int | None] = None
    min_notice_minutes: NoticeMinutes[int | None] = None
    horizon_days: HorizonDays[int | None] = None
    availability: OpeningHours | None = Field(
        default=None, description="Range mode: weekly hours and exceptions"
    )
    created_at: CreatedAt


class AvailableStartOut(BaseModel):
    """One bookable start: a range's start and end (range mode) or a free slot (slot mode)."""

    starts_at: Start[datetime] = Field(description="A free start")
    ends_at: End[datetime] = Field(
        description="Its end for the duration asked", examples=["2026-12-05T07:00:00Z"]
    )
    price: Price = Field(description="What the booking would cost")
    slot_id: SlotIdOrNone = Field(default=None, description="Slot mode: the slot")
    remaining_capacity: int | None = Field(
        default=None, description="Slot mode: seats still free", examples=[1]
    )


class AvailabilityOut(BaseModel):
    """What is free on a resource between ``from`` and ``to``."""

    resource_id: ResourceId
    booking_mode: BookingMode = Field(description="slots or range", examples=["slots"])
    items: list[AvailableStartOut] = Field(description="What is free, in time order")


class SlotIn(Strict):
    """One slot to create."""

    starts_at: Start[Instant]
    ends_at: End[Instant]
    price: Price
    capacity: int = Field(
        default=1, ge=1, le=10_000, description="How many bookings the slot takes", examples=[1]
    )


class SlotsIn(Strict):
    """Body of ``POST /v1/resources/{id}/slots``."""

    slots: list[SlotIn] = Field(
        min_length=1, max_length=500, description="The slots, all created or none"
    )

    def to_command(self) -> list[NewSlot]:
        """The slots as the services create them."""
        return [
            NewSlot(spec.starts_at, spec.ends_at, spec.price.as_amount(), spec.capacity)
            for spec in self.slots
        ]


class SlotOut(BaseModel):
    """A slot with its remaining capacity."""

    id: Id
    resource_id: ResourceId
    starts_at: Start[datetime]
    ends_at: End[datetime]
    price: Price
    capacity: int = Field(description="How many bookings the slot takes", examples=[1])
    remaining_capacity: int = Field(description="Seats still free", examples=[1])


class CreatedSlotsOut(BaseModel):
    """The slots a request created."""

    items: list[SlotOut] = Field(description="The created slots")


class PublicResourceOut(BaseModel):
    """A resource as a booking page shows it to anyone: no operator's settings.

    Without a token the catalog answers this view: what the customer needs to
    choose and book (name, time zone, mode, price, rules, hours, the refund
    terms they agree to), not how the engine runs the resource (its meeting
    provider, its buffer, when it was created).
    """

    id: Id
    name: ResourceName[str]
    timezone: Timezone = Field(description="IANA time zone")
    refund_policy: RefundPolicy = Field(description="What a cancellation gives back")
    booking_mode: BookingMode = Field(description="slots or range", examples=["slots"])
    rate: Rate | None = Field(default=None, description="Range mode: the price per started unit")
    min_duration_minutes: MinDuration[int | None] = None
    max_duration_minutes: MaxDuration[int | None] = None
    min_notice_minutes: NoticeMinutes[int | None] = None
    horizon_days: HorizonDays[int | None] = None
    availability: OpeningHours | None = Field(
        default=None, description="Range mode: weekly hours and exceptions"
    )


class PublicSlotOut(BaseModel):
    """A slot as a booking page shows it to anyone: when, the price, the seats still free."""

    id: Id
    resource_id: ResourceId
    starts_at: Start[datetime]
    ends_at: End[datetime]
    price: Price
    remaining_capacity: int = Field(description="Seats still free", examples=[1])
