"""Range rules: hours in the resource's zone (DST included), exceptions, prices, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.availability import RangeRules, RuleViolation, check_range, free_starts, open_windows

H = timedelta(hours=1)


def rules(
    weekly: list[dict[str, str]] | None = None,
    exceptions: list[dict[str, str]] | None = None,
    *,
    timezone: str = "Europe/London",
    per: str = "hour",
    **limits: Any,
) -> RangeRules:
    """Rules as a resource stores them: every day 09:00-17:00 unless told otherwise."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return RangeRules.parse(
        timezone,
        {
            "rate": {"per": per, "price": {"amount": 1_000, "currency": "GBP"}},
            "min_duration_minutes": limits.get("min_duration_minutes", 30),
            "max_duration_minutes": limits.get("max_duration_minutes", 14 * 1440),
            "buffer_minutes": limits.get("buffer_minutes", 0),
            "min_notice_minutes": limits.get("min_notice_minutes", 0),
            "horizon_days": limits.get("horizon_days", 3650),
            "availability": {
                "weekly": weekly
                if weekly is not None
                else [{"day": d, "start": "09:00", "end": "17:00"} for d in days],
                "exceptions": exceptions or [],
            },
        },
    )


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


NOW = utc(2026, 1, 1)


def test_wall_clock_hours_hold_across_both_dst_changes() -> None:
    """09:00-17:00 in London is 09-17 UTC in winter, 08-16 UTC on and after 29 March 2026."""
    london = rules()

    assert open_windows(london, utc(2026, 3, 28), utc(2026, 3, 28, 23)) == [
        (utc(2026, 3, 28, 9), utc(2026, 3, 28, 17))
    ]
    assert open_windows(london, utc(2026, 3, 29), utc(2026, 3, 29, 23)) == [
        (utc(2026, 3, 29, 8), utc(2026, 3, 29, 16))
    ]
    assert open_windows(london, utc(2026, 10, 25), utc(2026, 10, 25, 23)) == [
        (utc(2026, 10, 25, 9), utc(2026, 10, 25, 17))
    ]


def test_a_day_that_is_23_hours_long_is_still_whole_with_00_to_24() -> None:
    """A whole-day exception on the spring-forward day opens its 23 hours, no more."""
    car = rules(weekly=[], exceptions=[{"date": "2026-03-29", "start": "00:00", "end": "24:00"}])

    assert open_windows(car, utc(2026, 3, 28), utc(2026, 3, 31)) == [
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 23))
    ]


def test_exceptions_close_a_day_or_give_it_other_hours() -> None:
    """Christmas closed; Boxing Day open 10:00-14:00 instead of 09:00-17:00."""
    shop = rules(
        exceptions=[
            {"date": "2026-12-25"},
            {"date": "2026-12-26", "start": "10:00", "end": "14:00"},
        ]
    )

    assert open_windows(shop, utc(2026, 12, 25), utc(2026, 12, 27)) == [
        (utc(2026, 12, 26, 10), utc(2026, 12, 26, 14))
    ]


def test_open_days_merge_so_a_rental_can_run_for_days_but_not_across_a_closed_one() -> None:
    """Every day 00:00-24:00: three days fit; with the middle day closed they do not."""
    all_day = [{"day": d, "start": "00:00", "end": "24:00"} for d in ("mon", "tue", "wed")]
    open_car = rules(all_day, timezone="UTC", per="day")
    closed_tue = rules(all_day, [{"date": "2026-01-06"}], timezone="UTC", per="day")

    price = check_range(open_car, utc(2026, 1, 5, 0), utc(2026, 1, 8, 0), NOW)
    with pytest.raises(RuleViolation) as refused:
        check_range(closed_tue, utc(2026, 1, 5, 0), utc(2026, 1, 8, 0), NOW)

    assert price == 3 * 1_000
    assert refused.value.field == "starts_at"
    assert "not open for the whole of this range" in str(refused.value)


@pytest.mark.parametrize(
    ("length", "per", "units"),
    [(timedelta(minutes=90), "hour", 2), (timedelta(hours=25), "day", 2), (H, "hour", 1)],
)
def test_the_price_is_the_rate_times_the_started_units(
    length: timedelta, per: str, units: int
) -> None:
    """90 minutes at an hourly rate is two hours; 25 hours at a daily rate is two days."""
    always = rules(
        [{"day": d, "start": "00:00", "end": "24:00"} for d in ("thu", "fri")],
        timezone="UTC",
        per=per,
    )

    assert check_range(always, utc(2026, 1, 1, 1), utc(2026, 1, 1, 1) + length, NOW) == (
        units * 1_000
    )


@pytest.mark.parametrize(
    ("starts", "ends", "field", "words"),
    [
        (utc(2026, 1, 2, 10), utc(2026, 1, 2, 10, 15), "ends_at", "at least 30 minutes"),
        (utc(2026, 1, 2, 10), utc(2026, 1, 2, 9), "ends_at", "after starts_at"),
        (utc(2026, 1, 1, 1), utc(2026, 1, 1, 2), "starts_at", "2 hours of notice"),
        (utc(2026, 6, 1, 10), utc(2026, 6, 1, 11), "starts_at", "at most 30 days ahead"),
        (utc(2026, 1, 2, 16), utc(2026, 1, 2, 18), "starts_at", "not open"),
        (utc(2026, 1, 2, 9), utc(2026, 1, 2, 13), "ends_at", "at most 3 hours"),
    ],
)
def test_each_rule_refuses_with_its_own_words(
    starts: datetime, ends: datetime, field: str, words: str
) -> None:
    """Duration, order, notice, horizon, hours: each refusal names its field and its rule."""
    strict = rules(
        timezone="UTC", min_notice_minutes=120, horizon_days=30, max_duration_minutes=180
    )

    with pytest.raises(RuleViolation) as refused:
        check_range(strict, starts, ends, NOW)

    assert refused.value.field == field
    assert words in str(refused.value)


def test_free_starts_keep_the_buffer_after_every_booking() -> None:
    """A booking 10:00-11:00 with a 30-minute buffer blocks 10:00-11:30 and hour starts near it."""
    room = rules(timezone="UTC", buffer_minutes=30)
    busy = [(utc(2026, 1, 2, 10), utc(2026, 1, 2, 11, 30))]

    starts = free_starts(
        room,
        busy,
        window=(utc(2026, 1, 2, 8), utc(2026, 1, 2, 18)),
        duration=H,
        step=timedelta(minutes=30),
        now=NOW,
    )

    # 09:00 would run, with its own buffer, into the booking at 10:00; 11:30 is the first free.
    assert [s.strftime("%H:%M") for s in starts] == [
        f"{h:02d}:{m:02d}" for h in range(11, 17) for m in (0, 30) if (h, m) >= (11, 30)
    ][:-1]
