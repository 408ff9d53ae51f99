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
    day = format_datetime(local, "EEE d MMM y, HH:mm", tzinfo=zone, locale=locale)
    offset = format_datetime(local, "xxx", tzinfo=zone, locale=locale)
    name = local.tzname() or ""
    label = f"{name} " if name and name[0] not in "+-" else ""
    return f"{day} {label}(UTC{offset})"
