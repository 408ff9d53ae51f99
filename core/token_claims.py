"""Checks every bearer token's claims pass, whoever signed it: times, roles, the subject.

Pure functions: each refusal is ``UNAUTHENTICATED`` with words that say what is
wrong, and nothing here reads a clock (callers pass ``now``).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from models.errors import BookingError, ErrorCode

if TYPE_CHECKING:
    from jwt.types import Options

# The namespace of customer ids derived from an identity provider's subjects:
# ``uuid5(SUBJECT_NAMESPACE, f"{issuer}\n{subject}")``, ``issuer`` being
# BOOKING_AUTH_ISSUER (which the token's ``iss`` equals). Never change it: every
# such customer's bookings and wallet are filed under the ids it gives.
SUBJECT_NAMESPACE = uuid.UUID("5d0c2a8e-3f4b-4c61-9a7e-2b8d1e6f0c93")


_CANONICAL_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)


def pyjwt_options(*required: str) -> Options:
    """PyJWT's options: ``required`` claims present, and its time checks off.

    PyJWT accepts an ``exp`` of ``"9999999999"`` (a string) and of 10**30;
    verifiers call :func:`check_times` instead, the same for every token.
    """
    return {
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "require": list(required),
    }


def refused(message: str) -> BookingError:
    """The 401 for a token that is not accepted, saying why."""
    return BookingError(ErrorCode.UNAUTHENTICATED, message)


def _number(claims: Mapping[str, Any], name: str, what: str) -> float | None:
    """The claim as a finite number, None when absent; a string or a bool is refused."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise refused(f"The token's {what} ({name}) is not a number.")
    return float(value)


def check_times(
    claims: Mapping[str, Any], *, now: float, leeway: float, max_lifetime: float
) -> None:
    """Refuse a token that has expired, is not valid yet, or claims an absurd expiry.

    ``exp`` is required and must be a JSON number (PyJWT alone would accept
    ``"9999999999"``, a string); ``nbf`` and ``iat`` are optional and numeric
    when present. An ``exp`` more than ``max_lifetime`` seconds from ``now`` is
    refused, so a token minted to last for ever (``exp`` of 10**30) is no
    credential. ``leeway`` absorbs clock skew on every bound in the caller's favour.

    Raises:
        BookingError: ``UNAUTHENTICATED``, naming the claim at fault.
    """
    exp = _number(claims, "exp", "expiry")
    if exp is None:
        raise refused("The token has no expiry (exp).")
    if exp <= now - leeway:
        raise refused("The token has expired.")
    if exp > now + max_lifetime + leeway:
        raise refused("The token's expiry (exp) is too far in the future.")
    nbf = _number(claims, "nbf", "start of validity")
    if nbf is not None and nbf > now + leeway:
        raise refused("The token is not valid yet.")
    iat = _number(claims, "iat", "issue time")
    if iat is not None and iat > now + leeway:
        raise refused("The token's issue time (iat) is in the future.")


def claim_at(claims: Mapping[str, Any], path: str) -> object:
    """The claim a dotted ``path`` names, or None.

    Dots separate levels (``realm_access.roles``); other characters belong to
    the key (``cognito:groups``). A top-level claim named by the whole path wins,
    so a namespaced claim such as ``https://example.com/roles`` is found too.
    """
    if path in claims:
        return claims[path]
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def holds_role(value: object, role: str) -> bool:
    """Whether a roles claim (a string, or a list of strings) holds ``role`` exactly."""
    if isinstance(value, str):
        return value == role
    if isinstance(value, list):
        return any(isinstance(item, str) and item == role for item in value)
    return False


def customer_id(issuer: str, subject: object) -> uuid.UUID:
    """The customer id of an identity provider's subject.

    A subject in the canonical UUID form is the customer id itself; any other
    subject (``auth0|5f7c...``, a Cognito or Google numeric id) maps to a stable
    UUIDv5 of the issuer and the subject (see :data:`SUBJECT_NAMESPACE`).

    Raises:
        BookingError: ``UNAUTHENTICATED`` when the subject is missing or not a string.
    """
    if not isinstance(subject, str) or not subject:
        raise refused("The token has no subject (sub).")
    if _CANONICAL_UUID.fullmatch(subject):
        return uuid.UUID(subject)
    return uuid.uuid5(SUBJECT_NAMESPACE, f"{issuer}\n{subject}")
