"""The bounded JSON reader: depth, numbers and keys refused as ValueError, never a crash."""

from __future__ import annotations

import pytest

from core import bounded_json


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        '{"a": ' * 70 + "1" + "}" * 70,
        "123456789012345678901234",
        "-9223372036854775809",
        "1e400",
        "NaN",
        "-Infinity",
        '{"a": 1, "a": 2}',
        b"\xff\xfe",
    ],
)
def test_what_the_reader_refuses_is_a_value_error(text: str | bytes) -> None:
    """Too deep, an integer past int64, a non-finite number, a duplicate key, not UTF-8."""
    with pytest.raises(ValueError):  # noqa: PT011 - each is a different message
        bounded_json.loads(text, max_depth=64, unique_keys=True)


def test_brackets_inside_strings_are_not_nesting() -> None:
    """A string full of brackets (and escaped quotes) is one level, not thousands."""
    text = '["' + '[{\\"' * 2000 + '"]'

    assert bounded_json.nesting_depth(text) == 1
    assert bounded_json.loads(text, max_depth=1) == ['[{"' * 2000]


def test_the_edges_of_int64_are_read() -> None:
    """The largest and smallest BIGINT are numbers like any other."""
    assert bounded_json.loads("[9223372036854775807, -9223372036854775807]", max_depth=1) == [
        2**63 - 1,
        -(2**63 - 1),
    ]


def test_a_duplicate_key_is_named() -> None:
    """The refusal carries the key, for a message that names it."""
    with pytest.raises(bounded_json.DuplicateKey) as refused:
        bounded_json.loads('{"x": {"slot_id": 1, "slot_id": 2}}', max_depth=8, unique_keys=True)

    assert refused.value.key == "slot_id"


def test_strings_postgres_cannot_hold_are_found_in_keys_and_values() -> None:
    """A NUL or a lone surrogate, anywhere: a reason; plain text: None."""
    assert bounded_json.unstorable({"a": ["b", {"c\x00": 1}]}) is not None
    assert bounded_json.unstorable(["ok", "\ud800"]) is not None
    assert bounded_json.unstorable({"a": ["b", {"c": 1.5, "d": None}]}) is None
