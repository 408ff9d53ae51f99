"""Notification mail: what each kind says, and composing and sending it over SMTP.

Bodies come from templates in ``integrations/templates`` (``<kind>.txt`` and
``<kind>.html``, Jinja2, HTML autoescaped), with times in the resource's
timezone and money formatted for its currency (``core.formatting``). A change
to the calendar event carries an iCalendar invite (one UID per booking,
SEQUENCE raised by each change, ``METHOD:CANCEL`` on a cancellation).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import jinja2
from icalendar import Calendar, Event, vCalAddress

from core.formatting import local_span, local_time, money
from models.db import Booking, Resource
from models.domain import BookingStatus, NotificationKind, PaymentMethod, RefundStatus
from models.payloads.common import RefundInfo

SUBJECTS: dict[NotificationKind, str] = {
    NotificationKind.BOOKING_RESCHEDULED: "Your booking was moved",
    NotificationKind.PAYMENT_REFUNDED: "Your payment was refunded",
    NotificationKind.BOOKING_CONFIRMED: "Your booking is confirmed",
    NotificationKind.BOOKING_FAILED: "Your booking could not be completed",
    NotificationKind.BOOKING_EXPIRED: "Your booking expired before payment",
    NotificationKind.BOOKING_CANCELLED: "Your booking was cancelled",
    NotificationKind.BOOKING_REMINDER: "Reminder: your booking",
    NotificationKind.PAYMENT_DECLINED: "Your payment was declined",
    NotificationKind.MEETING_READY: "Your meeting link is ready",
}

# The kinds that change the calendar event: they carry an invite (CANCEL for a cancellation).
INVITES: dict[NotificationKind, str] = {
    NotificationKind.BOOKING_CONFIRMED: "REQUEST",
    NotificationKind.BOOKING_RESCHEDULED: "REQUEST",
    NotificationKind.MEETING_READY: "REQUEST",
    NotificationKind.BOOKING_CANCELLED: "CANCEL",
}

# Why a booking failed, in the customer's words (codes without one are not explained).
_REASONS = {
    "INSUFFICIENT_FUNDS": "the wallet balance does not cover the price",
    "SLOT_UNAVAILABLE": "the time was taken just before",
    "PAYMENT_PROVIDER_UNAVAILABLE": "the payment provider could not be reached",
    "PAYMENT_MISMATCH": "the payment did not match the price, so it is refunded",
}

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("integrations", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,
)
# Plain text: the templates keep their line breaks; runs of blank lines collapse to one.
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


@dataclass(frozen=True)
class RefundWords:
    """A refund as a mail tells it: the amount formatted, what became of it, where it went."""

    amount: str
    words: str
    where: str
    reason: str | None = None


@dataclass(frozen=True)
class MailContext:
    """What a notification says: times in the resource's timezone, money formatted."""

    subject: str
    booking_id: str
    name: str | None
    resource: str
    when: str
    price: str
    paid_with: str
    meeting_url: str | None
    has_meeting: bool
    refund: RefundWords | None = None
    charged: str | None = None
    reason_words: str | None = None
    deadline: str | None = None


def refund_words(refund: RefundInfo, reason: str | None = None) -> RefundWords:
    """A refund in words: ``₹250.00`` ``was refunded`` ``to your wallet``."""
    words = {
        RefundStatus.PROCESSED: "was refunded",
        RefundStatus.PENDING: "is being refunded (it can take a few days to show)",
        RefundStatus.REQUESTED: "is being refunded (it can take a few days to show)",
        RefundStatus.OWED: "is owed to you and will be refunded; we are on it",
    }[refund.status]
    where = "to your wallet" if refund.method == PaymentMethod.WALLET else "to your payment method"
    return RefundWords(money(refund.amount, refund.currency), words, where, reason)


def mail_context(
    booking: Booking,
    resource: Resource,
    kind: NotificationKind,
    *,
    refund: RefundInfo | None = None,
    charged: int | None = None,
    about: str | None = None,
) -> MailContext:
    """Everything the templates of ``kind`` need, from the booking as it is now.

    ``refund`` and ``charged`` are the money this change moved; ``about`` tells
    an operator's refund (``ops:…``) from one of money the booking did not need.
    """
    contact = booking.contact or {}
    ended = booking.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED)
    paid_with = (
        "from your wallet"
        if booking.payment_method == PaymentMethod.WALLET
        else f"with {booking.payment_provider or 'your payment method'}"
    )
    if refund is None and booking.refunded_amount > 0 and kind in _TELLS_REFUNDS:
        # Sent again by an operator: the refunds so far, from the books.
        refund = RefundInfo(
            amount=booking.refunded_amount,
            currency=booking.currency,
            method=booking.payment_method
            if booking.payment_method == PaymentMethod.WALLET
            else (booking.payment_provider or ""),
            status=RefundStatus.PROCESSED,
        )
    return MailContext(
        subject=SUBJECTS[kind],
        booking_id=str(booking.id),
        name=contact.get("name"),
        resource=resource.name,
        when=local_span(booking.starts_at, booking.ends_at, resource.timezone),
        price=money(booking.amount, booking.currency),
        paid_with=paid_with,
        meeting_url=None if ended else booking.meeting_url,
        has_meeting=bool(booking.meeting_provider),
        refund=refund_words(refund, _refund_reason(kind, about)) if refund else None,
        charged=money(charged, booking.currency) if charged else None,
        reason_words=_REASONS.get(booking.reason or ""),
        deadline=local_time(booking.hold_expires_at, resource.timezone)
        if booking.hold_expires_at
        else None,
    )


_TELLS_REFUNDS = frozenset(
    {
        NotificationKind.BOOKING_CANCELLED,
        NotificationKind.BOOKING_FAILED,
        NotificationKind.PAYMENT_REFUNDED,
    }
)


def _refund_reason(kind: NotificationKind, about: str | None) -> str | None:
    if kind != NotificationKind.PAYMENT_REFUNDED:
        return None
    if about is not None and about.startswith("ops:"):
        return "a refund from our team"
    return "a payment reached us that your booking did not need"


def render(kind: NotificationKind, context: MailContext) -> tuple[str, str]:
    """The plain-text and HTML bodies of a notification, from ``templates/<kind>.txt|html``."""
    values = asdict(context)
    values["refund"] = context.refund
    text = _TEMPLATES.get_template(f"{kind.value}.txt").render(values)
    html = _TEMPLATES.get_template(f"{kind.value}.html").render(values)
    return _BLANK_RUNS.sub("\n\n", text).strip() + "\n", html


def invite(
    booking: Booking,
    resource: Resource,
    *,
    method: str,
    sequence: int,
    organizer: str,
    attendee: str,
) -> bytes:
    """The booking as an iCalendar invite: one stable UID, SEQUENCE raised by each change.

    ``method`` is ``REQUEST`` (a new or changed event) or ``CANCEL``.
    """
    calendar = Calendar()
    calendar.add("prodid", "-//Booking engine//bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", f"{booking.id}@booking-engine")
    event.add("sequence", sequence)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", booking.starts_at.astimezone(UTC))
    event.add("dtend", booking.ends_at.astimezone(UTC))
    event.add("summary", resource.name)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    if booking.meeting_url and method != "CANCEL":
        event.add("location", booking.meeting_url)
        event.add("url", booking.meeting_url)
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    event.add("attendee", vCalAddress(f"mailto:{attendee}"))
    calendar.add_component(event)
    return bytes(calendar.to_ical())


# Seconds allowed for connecting to the SMTP server and for each exchange.
SMTP_TIMEOUT = 10.0


class EmailDeliveryError(Exception):
    """Sending failed. The message names the failure, never the recipient's address."""

    def __init__(self, message: str, *, smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code


def compose(
    *,
    to: str,
    sender: str,
    subject: str,
    body: str,
    message_id: str,
    html: str | None = None,
    calendar: tuple[bytes, str] | None = None,
) -> EmailMessage:
    """Build a message: plain text, with an HTML alternative and a calendar invite if given.

    Args:
        to: The recipient's address.
        sender: The ``From`` address.
        subject: The subject line.
        body: The plain-text body.
        message_id: A stable RFC 5322 msg-id, so that a resend after an ambiguous
            failure can be recognised as a duplicate; angle brackets are added if missing.
        html: The same message as HTML (``multipart/alternative``).
        calendar: An iCalendar body and its method (``REQUEST``, ``CANCEL``), attached
            as ``invite.ics``.

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
    if html is not None:
        message.add_alternative(html, subtype="html")
    if calendar is not None:
        ics, method = calendar
        message.add_attachment(
            ics,
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={"method": method},
        )
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
    timeout: float = SMTP_TIMEOUT,  # noqa: ASYNC109
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
