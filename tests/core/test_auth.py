"""Tokens: issued and verified with one secret, refused when signed by another."""

from __future__ import annotations

import uuid

import pytest

from core.auth import issue_token, verify_token
from models.errors import BookingError, ErrorCode

SECRET = "s" * 40


def test_token_round_trip_keeps_subject_and_role() -> None:
    """A token issued for an operator verifies back to the same principal."""
    sub = uuid.uuid4()
    principal = verify_token(SECRET, issue_token(SECRET, sub, "operator"))
    assert (principal.sub, principal.role, principal.is_operator) == (sub, "operator", True)


def test_token_signed_with_another_secret_is_unauthenticated() -> None:
    """A token from another signer is refused with UNAUTHENTICATED."""
    token = issue_token("o" * 40, uuid.uuid4())
    with pytest.raises(BookingError) as raised:
        verify_token(SECRET, token)
    assert raised.value.code is ErrorCode.UNAUTHENTICATED
