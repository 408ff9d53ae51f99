"""When a range resource can be booked, and what a range costs: pure rules, no I/O.

A range resource (a car, a room, a tutor's working hours) is open by weekly
rules in its own timezone, with date exceptions: an exception without times
closes that day; exceptions with times replace its hours (``00:00``-``24:00``
is the whole day). Local times are turned into instants day by day with the
zone's rules, so "09:00-17:00" on the day the clocks change is still 09:00 to
17:00 on the wall. Consecutive open days merge: a rule of ``00:00``-``24:00``
every day lets a rental run for days.

Bookings keep a buffer after them (``blocked_until`` = end + buffer); a range
is free when ``[start, end + buffer)`` overlaps no booking's
``[start, blocked_until)``, which is what the database's exclusion constraint
checks. The price is the rate times the started units (hours or days).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UNITS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


class RuleViolation(ValueError):
    """A range the resource's rules refuse; ``field`` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Hours:
    """Open from ``start`` to ``end`` local time; ``end`` None is midnight at the day's end."""

    start: time
    end: time | None


@dataclass(frozen=True)
class RangeRules:
    """How a range resource is booked (its ``range_rules``, parsed)."""

    timezone: str
    rate_per: Literal["hour", "day"]
    rate_amount: int
    currency: str
    min_duration: timedelta
    max_duration: timedelta
    buffer: timedelta
    min_notice: timedelta
    horizon: timedelta
    weekly: dict[int, tuple[Hours, ...]]
    # Date -> its hours instead of the weekly ones (empty: closed that day).
    exceptions: dict[date, tuple[Hours, ...]]

    @classmethod
    def parse(cls, timezone: str, rules: dict[str, Any]) -> RangeRules:
        """The rules as stored (the API validated them); see :func:`rules_document`."""
        weekly: dict[int, list[Hours]] = {}
        for rule in rules["availability"]["weekly"]:
            weekly.setdefault(DAYS.index(rule["day"]), []).append(
                _hours(rule["start"], rule["end"])
            )
        exceptions: dict[date, list[Hours]] = {}
        closed: set[date] = set()
        for exception in rules["availability"].get("exceptions", []):
            day = date.fromisoformat(exception["date"])
            if exception.get("start") is None:
                closed.add(day)
            else:
                exceptions.setdefault(day, []).append(_hours(exception["start"], exception["end"]))
        for day in closed:
            exceptions[day] = []
        return cls(
            timezone=timezone,
            rate_per=rules["rate"]["per"],
            rate_amount=int(rules["rate"]["price"]["amount"]),
            currency=rules["rate"]["price"]["currency"],
            min_duration=timedelta(minutes=rules["min_duration_minutes"]),
            max_duration=timedelta(minutes=rules["max_duration_minutes"]),
            buffer=timedelta(minutes=rules.get("buffer_minutes", 0)),
            min_notice=timedelta(minutes=rules.get("min_notice_minutes", 0)),
            horizon=timedelta(days=rules.get("horizon_days", 365)),
            weekly={day: tuple(hours) for day, hours in weekly.items()},
            exceptions={day: tuple(hours) for day, hours in exceptions.items()},
        )


def parse_clock(value: str) -> time | None:
    """``"09:30"`` as a time; ``"24:00"`` as None (the end of the day).

    Raises:
        ValueError: Not ``HH:MM`` within 00:00 and 24:00.
    """
    if value == "24:00":
        return None
    hour, _, minute = value.partition(":")
    if len(hour) != 2 or len(minute) != 2 or not (hour + minute).isdigit():
        raise ValueError(f"{value!r} is not HH:MM")
    return time(int(hour), int(minute))


def _hours(start: str, end: str) -> Hours:
    begin = parse_clock(start)
    if begin is None:
        raise ValueError("a start of 24:00 opens nothing")
    return Hours(begin, parse_clock(end))


def open_windows(
    rules: RangeRules, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The resource's open time between ``start`` and ``end``, as merged UTC intervals."""
    zone = ZoneInfo(rules.timezone)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    spans: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        hours = rules.exceptions.get(day, rules.weekly.get(day.weekday(), ()))
        for opening in hours:
            begin = datetime.combine(day, opening.start, tzinfo=zone).astimezone(UTC)
            close = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                if opening.end is None
                else datetime.combine(day, opening.end, tzinfo=zone)
            ).astimezone(UTC)
            if close > begin:
                spans.append((begin, close))
        day += timedelta(days=1)
    merged = _merge(spans)
    return [(max(s, start), min(e, end)) for s, e in merged if e > start and s < end]


def _merge(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for begin, close in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], close))
        else:
            merged.append((begin, close))
    return merged


def price_of(rules: RangeRules, starts_at: datetime, ends_at: datetime) -> int:
    """The rate times the started units: 25 hours at a daily rate is two days."""
    units = math.ceil((ends_at - starts_at) / UNITS[rules.rate_per])
    return units * rules.rate_amount


def check_range(rules: RangeRules, starts_at: datetime, ends_at: datetime, now: datetime) -> int:
    """The price of booking ``[starts_at, ends_at)``, if the rules allow it.

    Overlap with other bookings is not checked here: the database decides that.

    Raises:
        RuleViolation: Naming the field and the rule: order, duration, notice,
            horizon, or the availability.
    """
    if ends_at <= starts_at:
        raise RuleViolation("ends_at", "must be after starts_at")
    length = ends_at - starts_at
    if length < rules.min_duration:
        raise RuleViolation(
            "ends_at", f"the booking must last at least {_words(rules.min_duration)}"
        )
    if length > rules.max_duration:
        raise RuleViolation("ends_at", f"the booking may last at most {_words(rules.max_duration)}")
    if starts_at < now + rules.min_notice:
        raise RuleViolation(
            "starts_at", f"bookings need at least {_words(rules.min_notice)} of notice"
        )
    if starts_at > now + rules.horizon:
        raise RuleViolation("starts_at", f"bookings open at most {_words(rules.horizon)} ahead")
    if not any(s <= starts_at and ends_at <= e for s, e in open_windows(rules, starts_at, ends_at)):
        raise RuleViolation(
            "starts_at",
            f"the resource is not open for the whole of this range ({rules.timezone} hours)",
        )
    return price_of(rules, starts_at, ends_at)


def free_starts(
    rules: RangeRules,
    busy: Sequence[tuple[datetime, datetime]],
    *,
    window: tuple[datetime, datetime],
    duration: timedelta,
    step: timedelta,
    now: datetime,
) -> list[datetime]:
    """Every start in ``window`` (on a ``step`` grid from each opening) a booking could take.

    Args:
        rules: The resource's rules.
        busy: The active bookings' ``(starts_at, blocked_until)``, which never overlap.
        window: The starts to consider, ``[from, to)``.
        duration: How long the booking would last.
        step: The spacing of the offered starts.
        now: The clock, for the notice and the horizon.
    """
    earliest = max(window[0], now + rules.min_notice)
    latest = min(window[1], now + rules.horizon + timedelta(microseconds=1))
    if duration < rules.min_duration or duration > rules.max_duration or earliest >= latest:
        return []
    # Compared as whole microseconds since the epoch: exact, and far cheaper than aware
    # datetimes, which convert their offsets on every comparison.
    ordered = sorted((_micros(begin), _micros(until)) for begin, until in busy)
    busy_ends = [until for _, until in ordered]
    blocked = _micros_span(duration + rules.buffer)
    starts: list[datetime] = []
    for opens, closes in open_windows(rules, earliest, latest + duration):
        first = opens
        if first < earliest:
            first = opens + math.ceil((earliest - opens) / step) * step
        candidate = first
        while candidate < latest and candidate + duration <= closes:
            at = _micros(candidate)
            if _is_free(at, at + blocked, ordered, busy_ends):
                starts.append(candidate)
            candidate += step
    return starts


def _micros(moment: datetime) -> int:
    return _micros_span(moment - _EPOCH)


def _micros_span(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _is_free(
    start: int,
    until: int,
    busy: Sequence[tuple[int, int]],
    busy_ends: Sequence[int],
) -> bool:
    # The first booking still blocking after `start`; the others end before it.
    index = bisect.bisect_right(busy_ends, start)
    return index == len(busy) or busy[index][0] >= until


def _words(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes:
        days = minutes // 1440
        return f"{days} day" + ("s" if days != 1 else "")
    if minutes % 60 == 0 and minutes:
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{minutes} minute" + ("s" if minutes != 1 else "")
