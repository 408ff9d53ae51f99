"""JSON read within bounds: what a caller or a gateway sends cannot make the reader fail.

``json.loads`` recurses once per nesting level (a body 5,000 deep is a
``RecursionError``), reads integers of any size and accepts ``NaN`` and
``Infinity``, which PostgreSQL's ``jsonb`` refuses. :func:`loads` measures the
nesting before it parses, refuses integers outside a signed 64-bit range and
the non-finite numbers, and can refuse duplicate keys, which ``json.loads``
silently reads as the last one. Every refusal is a :class:`JSONBoundsError`,
a ``ValueError`` whose message names what was refused (never the value).

:func:`unstorable` finds the strings PostgreSQL cannot hold as ``text`` or
``jsonb``: a NUL, or an unpaired surrogate (a JSON escape of a lone surrogate decodes to one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["INT64_MAX", "DuplicateKey", "JSONBoundsError", "loads", "nesting_depth", "unstorable"]

INT64_MAX = 2**63 - 1
# A JSON string, escapes included; on well-formed JSON exactly what the parser reads as one.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONBoundsError(ValueError):
    """The JSON is well-formed or not, but outside the bounds this reader holds to."""


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text``, brackets inside strings not counted.

    Linear and without recursion, so it can be asked of any input before parsing.
    """
    outside_strings = _STRING.sub('""', text)
    deepest = level = 0
    for bracket in _BRACKET.finditer(outside_strings):
        if bracket.group() in "[{":
            level += 1
            deepest = max(deepest, level)
        else:
            level -= 1
    return deepest


def _integer(digits: str) -> int:
    # Python refuses more than 4,300 digits itself; this keeps the value to a BIGINT.
    if len(digits) > 20 or abs(value := int(digits)) > INT64_MAX:
        raise JSONBoundsError("an integer is outside the signed 64-bit range")
    return value


def _float(digits: str) -> float:
    value = float(digits)
    if value in (float("inf"), float("-inf")):
        raise JSONBoundsError("a number is too large")
    return value


def _constant(name: str) -> Any:
    raise JSONBoundsError(f"{name} is not a JSON number")


class DuplicateKey(JSONBoundsError):
    """An object names the same key twice; ``key`` is the key."""

    def __init__(self, key: str) -> None:
        super().__init__("an object has a duplicate key")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def loads(
    data: bytes | str, *, max_depth: int, unique_keys: bool = False
) -> Any:  # the JSON value: any of the types json.loads returns
    """Parse JSON with the nesting, the numbers and (optionally) the keys bounded.

    Args:
        data: The JSON text; bytes must be UTF-8 (RFC 8259), a BOM allowed.
        max_depth: The deepest nesting of arrays and objects accepted.
        unique_keys: Refuse an object that names a key twice (:class:`DuplicateKey`).

    Returns:
        The value, as ``json.loads`` would read it.

    Raises:
        JSONBoundsError: Nested deeper than ``max_depth``, an integer outside the
            signed 64-bit range, a number too large for a float, ``NaN`` or
            ``Infinity``, or a duplicate key when ``unique_keys``.
        ValueError: Not UTF-8, or not JSON (``json.JSONDecodeError``).
    """
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    if nesting_depth(text) > max_depth:
        raise JSONBoundsError(f"nested deeper than {max_depth} levels")
    hook: Callable[[list[tuple[str, Any]]], dict[str, Any]] | None = (
        _unique_keys if unique_keys else None
    )
    try:
        return json.loads(
            text,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=hook,
        )
    except RecursionError:
        # The depth was measured first; this is only a second line.
        raise JSONBoundsError("nested too deep") from None


def unstorable(value: Any) -> str | None:
    """Why PostgreSQL cannot store ``value`` (decoded JSON) as text or jsonb; None if it can.

    A string or key holding a NUL or an unpaired surrogate cannot be stored.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "a string holds a NUL character"
            if _SURROGATE.search(item):
                return "a string holds an unpaired surrogate"
    return None
