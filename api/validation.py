"""Field types that refuse at the edge what PostgreSQL would refuse later.

Each is an ``Annotated`` pydantic type, so a bad value is a 422
``VALIDATION_ERROR`` that names the field, never a database error:

- :data:`Text`: no NUL, no other control characters but tab and line breaks,
  no unpaired surrogates (PostgreSQL's ``text`` cannot hold them);
- :data:`Instant`: an aware time between 2000-01-01 and 2200-01-01 UTC (a time
  whose UTC value falls outside what a ``timestamptz`` or Python can hold is
  refused, not overflowed);
- :data:`Currency`: an ISO 4217 code from CLDR's list (babel), not a hand list.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from babel.numbers import list_currencies
from pydantic import AfterValidator, AwareDatetime, Field

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# The largest id or number a BIGINT column holds.
BIGINT_MAX = 2**63 - 1
_CURRENCIES = frozenset(list_currencies())
_ALLOWED_CONTROLS = frozenset("\t\n\r")


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
    """``value`` if it is an ISO 4217 currency code.

    Raises:
        ValueError: Not a known code.
    """
    if value not in _CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


Text = Annotated[str, AfterValidator(storable_text)]
Instant = Annotated[AwareDatetime, AfterValidator(in_range)]
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", examples=["INR"]),
    AfterValidator(iso_currency),
]
