"""Money and times as people read them: babel's CLDR data, the resource's timezone.

Used wherever words reach a person: mails, the Temporal UI's summary and
details, the sandbox's checkout page. Amounts are integer minor units; the
currency's precision (CLDR) says where the point goes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency, get_currency_precision

LOCALE = "en"


def money(amount: int, currency: str, locale: str = LOCALE) -> str:
    """``50000, "INR"`` as ``₹500.00``; ``500, "JPY"`` as ``¥500`` (no minor unit)."""
    precision = get_currency_precision(currency)
    return str(format_currency(Decimal(amount).scaleb(-precision), currency, locale=locale))


def local_time(at: datetime, timezone: str, locale: str = LOCALE) -> str:
    """``at`` in ``timezone`` with its abbreviation and offset.

    ``Thu 3 Dec 2026, 14:30 IST (UTC+05:30)``; a zone without an abbreviation
    (Asia/Colombo) shows the offset only.
    """
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    return f"{_day(local, zone, locale)} {_zone_label(local, zone, locale)}"


def local_span(starts: datetime, ends: datetime, timezone: str, locale: str = LOCALE) -> str:
    """``Fri 4 Dec 2026, 12:30 to 13:30 IST (UTC+05:30)``; both days when it ends another day."""
    zone = ZoneInfo(timezone)
    start, end = starts.astimezone(zone), ends.astimezone(zone)
    if end.date() == start.date():
        until = format_datetime(end, "HH:mm", tzinfo=zone, locale=locale)
    else:
        until = _day(end, zone, locale)
    return f"{_day(start, zone, locale)} to {until} {_zone_label(start, zone, locale)}"


def _day(local: datetime, zone: ZoneInfo, locale: str) -> str:
    return str(format_datetime(local, "EEE d MMM y, HH:mm", tzinfo=zone, locale=locale))


def _zone_label(local: datetime, zone: ZoneInfo, locale: str) -> str:
    offset = format_datetime(local, "xxx", tzinfo=zone, locale=locale)
    name = local.tzname() or ""
    return f"{name} (UTC{offset})" if name and name[0] not in "+-" else f"(UTC{offset})"
