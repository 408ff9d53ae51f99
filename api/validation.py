"""Field types that refuse at the edge what PostgreSQL would refuse later.

Each is an ``Annotated`` pydantic type, so a bad value is a 422
``VALIDATION_ERROR`` that names the field, never a database error:

- :data:`Text`: no NUL, no other control characters but tab and line breaks,
  no unpaired surrogates (PostgreSQL's ``text`` cannot hold them); the
  document says so with a ``pattern``, so a client knows before it sends;
- :data:`Instant`: an aware time between 2000-01-01 and 2200-01-01 UTC (a time
  whose UTC value falls outside what a ``timestamptz`` or Python can hold is
  refused, not overflowed);
- :data:`Currency`: an ISO 4217 code some country pays in today, by CLDR's
  dated tables (babel), not a hand list: so not the testing and no-currency
  codes ``XTS`` and ``XXX``, precious metals or units of account (``XAU``,
  ``XDR``), nor a withdrawn currency (``ZWL`` since 2024, ``VEF`` since 2018);
- :data:`TimeZoneName`: an IANA zone name the system's database lists, not the
  local-clock and template files it also holds (``localtime``, ``posixrules``,
  ``Factory``);
- :data:`Instant` refuses a bare number: a time is RFC 3339 text, never a Unix
  timestamp read by guess.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import available_timezones

from babel.core import get_global
from babel.numbers import get_territory_currencies
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# The largest id or number a BIGINT column holds.
BIGINT_MAX = 2**63 - 1


def _tender_today() -> frozenset[str]:
    """The ISO 4217 codes that are legal tender in some territory today, per CLDR."""
    today = datetime.now(UTC).date()
    return frozenset(
        code
        for territory in get_global("territory_currencies")
        for code in get_territory_currencies(territory, today, tender=True)
    )


_CURRENCIES = _tender_today()
# Files of the zone database that are no zone: the machine's own setting, a template for
# POSIX rules, and a placeholder that reads "Local time zone must be set".
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_ZONES = frozenset(available_timezones()) - _NOT_ZONES
# The longest IANA name is about 30 characters; a file name may not pass 255.
ZONE_NAME_MAX = 255
_ALLOWED_CONTROLS = frozenset("\t\n\r")
# The same rule for the document: no character of category Cc but tab, LF and CR.
NO_CONTROLS = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"


def storable_text(value: str) -> str:
    """``value`` if PostgreSQL can store it as text and it holds no control characters.

    Raises:
        ValueError: A NUL or other control character, or an unpaired surrogate.
    """
    for char in value:
        if unicodedata.category(char) == "Cs":
            raise ValueError("must be valid Unicode (it holds an unpaired surrogate)")
        if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS:
            raise ValueError(f"must not contain control characters (found U+{ord(char):04X})")
    return value


def in_range(value: datetime) -> datetime:
    """``value`` if it lies between 2000-01-01 and 2200-01-01 UTC.

    Raises:
        ValueError: Naive, outside the range, or beyond what a UTC time can be.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must carry a UTC offset")
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("must lie between 2000-01-01 and 2200-01-01 UTC") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("must lie between 2000-01-01 and 2200-01-01 UTC")
    return value


def iso_currency(value: str) -> str:
    """``value`` if it is an ISO 4217 code of a currency in use today.

    Raises:
        ValueError: Not a code, or a testing, no-currency, metal or withdrawn one.
    """
    if value not in _CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 code of a currency in use")
    return value


def iana_zone(value: str) -> str:
    """``value`` if it names an IANA time zone (``Asia/Kolkata``, ``UTC``).

    Checked against the list, never opened as a file: a long or odd name is
    refused, not an error of the file system.

    Raises:
        ValueError: Not a zone the database lists, or one of its non-zone files.
    """
    if len(value) > ZONE_NAME_MAX or value not in _ZONES:
        shown = value if len(value) <= 64 else f"{value[:64]}..."
        raise ValueError(f"{shown!r} is not an IANA time zone name")
    return value


def not_a_number(value: Any) -> Any:
    """Refuse a number where a time is due: JSON would otherwise read it as Unix seconds.

    Raises:
        ValueError: ``value`` is a number (or a bool).
    """
    if isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 time with an offset, not a number")
    return value


class _NoControlsInSchema:
    """Puts :data:`NO_CONTROLS` on the field's JSON schema (validation stays with the function)."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = NO_CONTROLS
        return schema


Text = Annotated[str, AfterValidator(storable_text), _NoControlsInSchema]
Instant = Annotated[AwareDatetime, BeforeValidator(not_a_number), AfterValidator(in_range)]
TimeZoneName = Annotated[str, AfterValidator(iana_zone)]
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", examples=["INR"]),
    AfterValidator(iso_currency),
]
