"""One error taxonomy for the whole engine.

Business failures carry an :class:`ErrorCode`. Inside Temporal they travel as
``ApplicationError(type=code.value, non_retryable=True)``; at the HTTP edge one
table (``api.errors.HTTP_STATUS``) turns a code into a status. Nothing matches
on message text.

    BookingError            raised by services and the API layer
    └── carries ErrorCode   the stable, documented code a client sees
"""

from __future__ import annotations

from enum import StrEnum

from temporalio.exceptions import ApplicationError


class ErrorCode(StrEnum):
    """Every documented error code."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BOOKING_NOT_FOUND = "BOOKING_NOT_FOUND"
    SLOT_NOT_FOUND = "SLOT_NOT_FOUND"
    RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
    SLOT_UNAVAILABLE = "SLOT_UNAVAILABLE"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    BOOKING_NOT_CANCELLABLE = "BOOKING_NOT_CANCELLABLE"
    INVALID_STATE = "INVALID_STATE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_ACTIVE_HOLDS = "TOO_MANY_ACTIVE_HOLDS"
    TOPUP_LIMIT_EXCEEDED = "TOPUP_LIMIT_EXCEEDED"
    PAYMENT_PROVIDER_UNAVAILABLE = "PAYMENT_PROVIDER_UNAVAILABLE"
    PAYMENT_MISMATCH = "PAYMENT_MISMATCH"
    DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
    INTERNAL = "INTERNAL"


# SLOT_UNAVAILABLE for a range booking: a range has no slot, the overlap constraint refused it.
OVERLAP_MESSAGE = "The time overlaps another booking."

DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.SLOT_UNAVAILABLE: "The slot has no remaining capacity.",
    ErrorCode.INSUFFICIENT_FUNDS: "The wallet balance does not cover the price.",
    ErrorCode.SLOT_NOT_FOUND: "No such slot.",
    ErrorCode.BOOKING_NOT_FOUND: "No such booking.",
    ErrorCode.RESOURCE_NOT_FOUND: "No such resource.",
    ErrorCode.DEPENDENCY_UNAVAILABLE: "A dependency is unavailable; retry later.",
    ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE: "The payment provider is unavailable; retry later.",
    ErrorCode.TOO_MANY_ACTIVE_HOLDS: "Too many unpaid bookings; pay or cancel one first.",
    ErrorCode.TOPUP_LIMIT_EXCEEDED: "Today's top-up limit is reached; try again tomorrow.",
    ErrorCode.INTERNAL: "Internal error.",
}


class BookingError(Exception):
    """A failure with a documented code, safe to show to the caller."""

    def __init__(
        self, code: ErrorCode, message: str | None = None, *, retry_after: int | None = None
    ) -> None:
        self.code = code
        # Seconds after which a retry can succeed (RATE_LIMITED): the Retry-After header.
        self.retry_after = retry_after
        self.message = message or DEFAULT_MESSAGES.get(code, code.value.replace("_", " ").lower())
        super().__init__(f"{code.value}: {self.message}")


def business_failure(code: ErrorCode, message: str | None = None) -> ApplicationError:
    """A non-retryable Temporal failure for a business outcome (never retried)."""
    return ApplicationError(
        message or DEFAULT_MESSAGES.get(code, code.value), type=code.value, non_retryable=True
    )


# The detail that marks a refusal of ``decide_wallet``'s debit, made after its hold
# committed (so the slot must be released); a refusal without it is the hold's own.
CHARGE_REFUSED = "charge"


def charge_refusal(err: ApplicationError) -> ApplicationError:
    """The debit's refusal ``err``, marked as coming after the hold (see decide_wallet)."""
    return ApplicationError(err.message, CHARGE_REFUSED, type=err.type, non_retryable=True)
