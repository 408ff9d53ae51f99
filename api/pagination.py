"""Keyset pagination: opaque cursors and the one way a page is fetched."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api.validation import BIGINT_MAX, in_range
from core import bounded_json
from models.errors import BookingError, ErrorCode

Row = TypeVar("Row")
_INVALID = "cursor: not a valid cursor"
# The longest cursor made here (a time and a UUID) is about 100 characters.
MAX_CURSOR_LENGTH = 512


def encode_cursor(*values: Any) -> str:
    """Encode the sort key of the last item of a page."""
    raw = json.dumps([str(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[str]:
    """Decode a cursor made by :func:`encode_cursor`, or fail with VALIDATION_ERROR.

    Bounded before it is decoded: no longer than :data:`MAX_CURSOR_LENGTH`, and
    a flat list, as every cursor this module makes is (a cursor nested deep
    would otherwise exhaust the parser's recursion).
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BookingError(ErrorCode.VALIDATION_ERROR, _INVALID)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = bounded_json.loads(raw, max_depth=1)
    except ValueError:
        raise BookingError(ErrorCode.VALIDATION_ERROR, _INVALID) from None
    if not isinstance(values, list) or len(values) != arity:
        raise BookingError(ErrorCode.VALIDATION_ERROR, _INVALID)
    return [str(v) for v in values]


def after_time_and_id(
    time_column: InstrumentedAttribute[datetime],
    id_column: InstrumentedAttribute[uuid.UUID],
    cursor: str,
    *,
    descending: bool,
) -> ColumnElement[bool]:
    """Rows after the cursor in (time, id) order, ascending or descending."""
    moment, last = decode_cursor(cursor, 2)
    try:
        at, last_id = in_range(datetime.fromisoformat(moment)), uuid.UUID(last)
    except (ValueError, TypeError):
        # Not a time, a naive one, one out of range, or not a UUID.
        raise BookingError(ErrorCode.VALIDATION_ERROR, _INVALID) from None
    if descending:
        return or_(time_column < at, and_(time_column == at, id_column < last_id))
    return or_(time_column > at, and_(time_column == at, id_column > last_id))


def before_id(id_column: InstrumentedAttribute[int], cursor: str) -> ColumnElement[bool]:
    """Rows before the cursor in descending integer-id order."""
    (last,) = decode_cursor(cursor, 1)
    if not (last.isascii() and last.isdigit()) or int(last) > BIGINT_MAX:
        raise BookingError(ErrorCode.VALIDATION_ERROR, _INVALID)
    return id_column < int(last)


def time_and_id_cursor(at: datetime, row_id: uuid.UUID) -> str:
    """The cursor of a row ordered by (time, id)."""
    return encode_cursor(at.isoformat(), row_id)


async def fetch_page(
    session: AsyncSession,
    query: Select[Row],
    limit: int,
    cursor_of: Callable[[Row], str],
) -> tuple[list[Row], str | None]:
    """One page of ``query`` (already ordered and filtered) and the cursor of the next."""
    rows = list((await session.execute(query.limit(limit + 1))).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, cursor_of(rows[-1])


async def newest_first(
    session: AsyncSession,
    query: Select[Row],
    time_column: InstrumentedAttribute[datetime],
    id_column: InstrumentedAttribute[uuid.UUID],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[Row], str | None]:
    """One page of ``query`` (already filtered) in descending (time, id) order after ``cursor``."""
    query = query.order_by(time_column.desc(), id_column.desc())
    if cursor is not None:
        query = query.where(after_time_and_id(time_column, id_column, cursor, descending=True))
    time_key, id_key = time_column.key, id_column.key
    return await fetch_page(
        session,
        query,
        limit,
        lambda row: time_and_id_cursor(getattr(row, time_key), getattr(row, id_key)),
    )
