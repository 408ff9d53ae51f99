"""A client's ``return_url``: only to a page of an allowed browser origin (no open redirect)."""

from __future__ import annotations

from core.settings import Settings
from models.errors import BookingError, ErrorCode
from models.return_urls import refusal


def check_return_url(settings: Settings, url: str) -> None:
    """Accept ``url`` only under one of ``BOOKING_CORS_ORIGINS`` (scheme, host and port).

    Raises:
        BookingError: ``VALIDATION_ERROR`` naming the field and the rule broken.
    """
    reason = refusal(url, settings.cors_origins)
    if reason is not None:
        raise BookingError(ErrorCode.VALIDATION_ERROR, f"return_url: {reason}")
