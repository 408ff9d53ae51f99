"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import json
from typing import Any

from core.errors import BookingError, ErrorCode


def encode_cursor(*values: Any) -> str:
    """Encode the sort key of the last item of a page."""
    raw = json.dumps([str(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[str]:
    """Decode a cursor made by :func:`encode_cursor`, or fail with VALIDATION_ERROR."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        raise BookingError(ErrorCode.VALIDATION_ERROR, "cursor: not a valid cursor") from None
    if not isinstance(values, list) or len(values) != arity:
        raise BookingError(ErrorCode.VALIDATION_ERROR, "cursor: not a valid cursor")
    return [str(v) for v in values]
