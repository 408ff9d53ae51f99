"""Manage links: a signed token that lets whoever holds a booking's mail manage that booking.

The token is ``base64url(version | booking id | expiry) + base64url(tag)`` without
padding: one byte of version, the booking's 16-byte UUID, the expiry as 4 bytes of
unix seconds (big-endian), then the first 16 bytes of an HMAC-SHA256 over those 21
bytes, keyed by :meth:`core.settings.Settings.manage_link_key` (its own secret, or one
derived from the JWT secret). 50 URL-safe characters, no database row behind it.

A token is valid until the booking's end plus :data:`GRACE` (so a mail sent after
the booked time, such as an owed refund gone through, still opens the booking);
what may still be done with the booking is the workflow's decision, as for its
owner. Verification is constant-time; a tampered, expired or foreign token (another
deployment's key, another version) is refused alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.settings import Settings

_VERSION = 1
_BODY = struct.Struct(">B16sI")
_TAG_BYTES = 16
# How long a link outlives the booked time.
GRACE = timedelta(days=7)


class InvalidManageToken(Exception):
    """The token is malformed, tampered with, signed by another key, or expired."""


@dataclass(frozen=True)
class ManageGrant:
    """What a valid token grants: the booking, until ``expires_at`` (unix seconds)."""

    booking_id: uuid.UUID
    expires_at: int


def link_key(settings: Settings) -> bytes | None:
    """The key of manage links: ``BOOKING_MANAGE_LINK_SECRET``, else derived from the JWT secret.

    None when neither is set (only an identity provider's tokens): mails then
    carry no manage link and the manage routes refuse every token.
    """
    if settings.manage_link_secret is not None:
        return settings.manage_link_secret.get_secret_value().encode()
    if settings.jwt_secret is None:
        return None
    secret = settings.jwt_secret.get_secret_value().encode()
    return hmac.new(secret, b"booking-manage-links", hashlib.sha256).digest()


def public_base(settings: Settings) -> str:
    """Where customers' browsers reach the API: ``BOOKING_PUBLIC_BASE_URL`` or its own address."""
    return settings.public_base_url or f"http://{settings.api_host}:{settings.api_port}"


def link_for(settings: Settings, booking_id: uuid.UUID, ends_at: datetime) -> str | None:
    """The manage page of a booking that ends at ``ends_at`` (None: no key is configured)."""
    key = link_key(settings)
    if key is None:
        return None
    return manage_url(public_base(settings), issue(key, booking_id, expiry_for(ends_at)))


def expiry_for(ends_at: datetime) -> int:
    """The expiry of a link to a booking that ends at ``ends_at``: its end plus :data:`GRACE`."""
    return int((ends_at + GRACE).timestamp())


def issue(key: bytes, booking_id: uuid.UUID, expires_at: int) -> str:
    """A token for ``booking_id`` valid until ``expires_at`` (unix seconds)."""
    body = _BODY.pack(_VERSION, booking_id.bytes, expires_at)
    return _encode(body + _tag(key, body))


def verify(key: bytes, token: str, *, now: float | None = None) -> ManageGrant:
    """The booking a token grants, after checking its tag (constant-time) and its expiry.

    Raises:
        InvalidManageToken: Any flaw; the message does not say which.
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidManageToken from None
    if len(raw) != _BODY.size + _TAG_BYTES or _encode(raw) != token:
        raise InvalidManageToken
    body, tag = raw[: _BODY.size], raw[_BODY.size :]
    if not hmac.compare_digest(tag, _tag(key, body)):
        raise InvalidManageToken
    version, booking, expires_at = _BODY.unpack(body)
    if version != _VERSION or expires_at <= (time.time() if now is None else now):
        raise InvalidManageToken
    return ManageGrant(uuid.UUID(bytes=booking), expires_at)


def manage_url(base: str, token: str) -> str:
    """The page a mail links to: ``{base}/manage/{token}``."""
    return f"{base.rstrip('/')}/manage/{token}"


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:_TAG_BYTES]


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
