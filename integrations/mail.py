"""Notification mail: what each kind says, and composing and sending it over SMTP."""

from __future__ import annotations

import asyncio
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from models.db import Booking
from models.domain import NotificationKind

SUBJECTS: dict[NotificationKind, str] = {
    NotificationKind.BOOKING_RESCHEDULED: "Your booking was moved",
    NotificationKind.PAYMENT_REFUNDED: "Your payment was refunded",
    NotificationKind.BOOKING_CONFIRMED: "Your booking is confirmed",
    NotificationKind.BOOKING_FAILED: "Your booking could not be completed",
    NotificationKind.BOOKING_EXPIRED: "Your booking expired before payment",
    NotificationKind.BOOKING_CANCELLED: "Your booking was cancelled",
}


def render_body(booking: Booking, kind: NotificationKind) -> str:
    """Plain-text body of a notification (no PII beyond what the recipient gave us)."""
    lines = [
        SUBJECTS[kind] + ".",
        "",
        f"Booking: {booking.id}",
        f"When: {booking.starts_at.isoformat()} to {booking.ends_at.isoformat()}",
        f"Amount: {booking.amount} {booking.currency} (minor units)",
    ]
    if booking.meeting_url:
        lines.append(f"Meeting link: {booking.meeting_url}")
    if booking.reason:
        lines.append(f"Reason: {booking.reason}")
    return "\n".join(lines) + "\n"


class EmailDeliveryError(Exception):
    """Sending failed. The message names the failure, never the recipient's address."""

    def __init__(self, message: str, *, smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code


def compose(*, to: str, sender: str, subject: str, body: str, message_id: str) -> EmailMessage:
    """Build a plain-text message.

    Args:
        to: The recipient's address.
        sender: The ``From`` address.
        subject: The subject line.
        body: The plain-text body.
        message_id: A stable RFC 5322 msg-id, so that a resend after an ambiguous
            failure can be recognised as a duplicate; angle brackets are added if missing.

    Returns:
        The message, ready for :func:`send_email`.

    Raises:
        ValueError: A header value contains a line break (header injection).
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    message.set_content(body)
    return message


def _deliver(message: EmailMessage, host: str, port: int, timeout: float) -> None:
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        refused = smtp.send_message(message)
    if refused:
        raise EmailDeliveryError(f"{len(refused)} recipient(s) refused")


async def send_email(
    message: EmailMessage,
    *,
    host: str,
    port: int,
    # smtplib's socket timeout: asyncio.timeout could not stop the worker thread.
    timeout: float = 10.0,  # noqa: ASYNC109
) -> None:
    """Send a message through an SMTP server without blocking the event loop.

    Args:
        message: The message, addressed by its ``To`` header.
        host: The SMTP server's host.
        port: The SMTP server's port.
        timeout: Seconds allowed for connecting and for each SMTP exchange.

    Raises:
        EmailDeliveryError: The connection or any SMTP command failed.
    """
    try:
        await asyncio.to_thread(_deliver, message, host, port, timeout)
    except smtplib.SMTPResponseException as exc:
        # The server's text often quotes the refused address, so only the code is kept,
        # and the cause is not chained for the same reason.
        raise EmailDeliveryError(
            f"SMTP server {host}:{port} answered {exc.smtp_code} ({type(exc).__name__})",
            smtp_code=exc.smtp_code,
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise EmailDeliveryError(
            f"SMTP server {host}:{port} refused the recipient(s) with {codes}",
            smtp_code=codes[0] if codes else None,
        ) from None
    except OSError as exc:  # smtplib.SMTPException is an OSError too.
        raise EmailDeliveryError(
            f"SMTP delivery via {host}:{port} failed ({type(exc).__name__})"
        ) from None
