"""Manage-link tokens: compact, URL-safe, scoped to one booking, refused when touched or late."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from core.manage_links import GRACE, InvalidManageToken, expiry_for, issue, verify

KEY = b"k" * 32


def test_a_token_names_its_booking_until_it_expires() -> None:
    """The token carries the booking id and expiry, in 50 URL-safe characters."""
    booking = uuid.uuid4()
    expires = int(time.time()) + 3600
    token = issue(KEY, booking, expires)

    grant = verify(KEY, token)

    assert (grant.booking_id, grant.expires_at) == (booking, expires)
    assert len(token) == 50
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("position", [0, 5, 27, 49])
def test_a_changed_character_is_refused(position: int) -> None:
    """Any one character changed, in the body or the tag, fails verification."""
    token = issue(KEY, uuid.uuid4(), int(time.time()) + 3600)
    swapped = "A" if token[position] != "A" else "B"
    tampered = token[:position] + swapped + token[position + 1 :]

    with pytest.raises(InvalidManageToken):
        verify(KEY, tampered)


def test_an_expired_a_foreign_and_a_malformed_token_are_refused() -> None:
    """Past its expiry, signed with another key, cut short or padded: all refused alike."""
    booking = uuid.uuid4()
    expired = issue(KEY, booking, int(time.time()) - 1)
    foreign = issue(b"o" * 32, booking, int(time.time()) + 3600)
    good = issue(KEY, booking, int(time.time()) + 3600)

    for token in (expired, foreign, good[:-1], good + "A", "", "not a token", good + "=="):
        with pytest.raises(InvalidManageToken):
            verify(KEY, token)


def test_a_link_lasts_until_the_booking_ends_plus_the_grace() -> None:
    """The expiry is the booking's end plus the documented grace."""
    ends = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)

    assert expiry_for(ends) == int((ends + GRACE).timestamp())
