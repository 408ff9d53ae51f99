"""Notification mail: what each kind says, and composing and sending it over SMTP.

Bodies come from templates in ``integrations/templates`` (``<kind>.txt`` and
``<kind>.html``, Jinja2, HTML autoescaped), with times in the resource's
timezone and money formatted for its currency (``core.formatting``). A change
to the calendar event carries an iCalendar invite (one UID per booking,
SEQUENCE raised by each change, ``METHOD:CANCEL`` on a cancellation).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path

import aiosmtplib
import jinja2
from icalendar import Calendar, Event, vCalAddress

from core.formatting import local_span, local_time, money
from core.settings import SmtpSecurity
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
    """Sending failed. The message names the failure, never the recipient's address.

    ``permanent``: another attempt with the same settings cannot succeed and may
    do harm (a rejected login, retried, gets the account locked), so the outbox
    gives up at once and tells an operator.
    """

    def __init__(
        self, message: str, *, smtp_code: int | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code
        self.permanent = permanent


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


@lru_cache(maxsize=8)
def _tls_context(ca_file: str | None, _changed: int) -> ssl.SSLContext:
    """Verify the relay: certificate chain and host name, against ``ca_file`` or the system store.

    Cached per file and modification time: reading the system store costs
    milliseconds per mail, and a replaced CA file is read again.
    """
    return ssl.create_default_context(cafile=ca_file)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The client TLS context for the relay (certificate and host name always verified).

    Args:
        ca_file: A private CA to trust instead of the system's trust store.

    Raises:
        OSError: The CA file cannot be read or holds no certificate.
    """
    if ca_file is None:
        return _tls_context(None, 0)
    return _tls_context(str(ca_file), ca_file.stat().st_mtime_ns)


def _verify_failed(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``exc``, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def relay_client(
    *,
    host: str,
    port: int,
    timeout: float,
    security: SmtpSecurity = "none",
    login: tuple[str, str] | None = None,
    ca_file: Path | None = None,
) -> aiosmtplib.SMTP:
    """The client for the relay, not yet connected; connecting brings TLS up, then logs in.

    With ``starttls`` or ``tls`` the relay's certificate chain and host name
    are verified; a relay that does not offer STARTTLS is not sent to in
    clear. ``login`` is sent only after TLS is up, except to a loopback relay
    in ``none`` mode (the settings refuse anything else).

    Args:
        host: The relay's host name or address (the name its certificate must carry).
        port: The relay's port.
        timeout: Seconds allowed for connecting and for each SMTP exchange.
        security: ``none`` (plain), ``starttls`` (upgrade a plain connection) or ``tls``.
        login: Username and password for SMTP AUTH.
        ca_file: A private CA to trust instead of the system's trust store.

    Raises:
        EmailDeliveryError: The CA file cannot be used.
    """
    try:
        context = None if security == "none" else tls_context(ca_file)
    except OSError as exc:
        raise EmailDeliveryError(
            f"the CA file for SMTP relay {host}:{port} cannot be used ({type(exc).__name__})"
        ) from None
    username, password = login if login is not None else (None, None)
    return aiosmtplib.SMTP(
        hostname=host,
        port=port,
        timeout=timeout,
        use_tls=security == "tls",
        # Explicit: aiosmtplib's default would upgrade whenever the relay offers it.
        start_tls=security == "starttls",
        tls_context=context,
        username=username,
        password=password,
    )


async def send_email(
    message: EmailMessage,
    *,
    host: str,
    port: int,
    timeout: float = SMTP_TIMEOUT,  # noqa: ASYNC109 - passed to each exchange with the relay
    security: SmtpSecurity = "none",
    login: tuple[str, str] | None = None,
    ca_file: Path | None = None,
) -> None:
    """Send a message through an SMTP relay (connected as :func:`relay_client` says).

    Args:
        message: The message, addressed by its ``To`` header.
        host: The relay's host name or address (the name its certificate must carry).
        port: The relay's port.
        timeout: Seconds allowed for connecting and for each SMTP exchange.
        security: ``none`` (plain), ``starttls`` (upgrade a plain connection) or ``tls``.
        login: Username and password for SMTP AUTH.
        ca_file: A private CA to trust instead of the system's trust store.

    Raises:
        EmailDeliveryError: The connection, TLS, the login or any SMTP command failed;
            ``permanent`` when the relay rejected the login.
    """
    relay = f"{host}:{port}"
    client = relay_client(
        host=host, port=port, timeout=timeout, security=security, login=login, ca_file=ca_file
    )
    try:
        async with client:
            refused, _ = await client.send_message(message)
    except aiosmtplib.SMTPAuthenticationError as exc:
        # 535 and its kin: the credentials are wrong, and retrying them only gets the
        # account locked. 454 is the relay's own trouble and is retried.
        raise EmailDeliveryError(
            f"SMTP relay {relay} refused the login with {exc.code}",
            smtp_code=exc.code,
            permanent=exc.code >= 500,
        ) from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = sorted({refused.code for refused in exc.recipients})
        raise EmailDeliveryError(
            f"SMTP relay {relay} refused the recipient(s) with {codes}",
            smtp_code=codes[0] if codes else None,
        ) from None
    except aiosmtplib.SMTPResponseException as exc:
        # The server's text often quotes the refused address, so only the code is kept,
        # and the cause is not chained for the same reason.
        raise EmailDeliveryError(
            f"SMTP relay {relay} answered {exc.code} ({type(exc).__name__})", smtp_code=exc.code
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        unverified = _verify_failed(exc)
        if unverified is not None:
            raise EmailDeliveryError(
                f"SMTP relay {relay}: certificate verify failed ({unverified.verify_message})"
            ) from None
        raise EmailDeliveryError(
            f"SMTP delivery via {relay} failed ({type(exc).__name__})"
        ) from None
    if refused:
        raise EmailDeliveryError(f"SMTP relay {relay} refused {len(refused)} recipient(s)")
