"""What each notification mail says: its words, its times and money, and its calendar invite.

Bodies come from templates in ``integrations/templates`` (``<kind>.txt`` and
``<kind>.html``, Jinja2, HTML autoescaped), with times in the customer's
timezone when their contact gives one (the resource's beside it), else the
resource's, and money formatted for its currency (``core.formatting``). Every
mail links to the booking's manage page. A change to the calendar event carries
an iCalendar invite (one UID per booking, SEQUENCE raised by each change,
``METHOD:CANCEL`` on a cancellation). Sending is :mod:`integrations.mail`'s.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import jinja2
from icalendar import Calendar, Event, vCalAddress

from core.formatting import local_span, local_time, money
from models.db import Booking, Resource
from models.domain import BookingStatus, NotificationKind, PaymentMethod, RefundStatus
from models.payloads.common import RefundInfo
from models.payloads.notifications import OWED_REFUND_DONE

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

# How a customer knows each way to pay (a provider missing here shows as it is named).
PAYMENT_NAMES: dict[str, str] = {
    "wallet": "Wallet",
    "sandbox": "Sandbox gateway",
    "stripe": "Stripe",
    "razorpay": "Razorpay",
    "paytm": "Paytm",
    "payhere": "PayHere",
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
    """A refund as a mail tells it: the amount formatted, then what became of it and where."""

    amount: str
    words: str
    reason: str | None = None


@dataclass(frozen=True)
class MailContext:
    """What a notification says: times in the customer's (or resource's) zone, money formatted."""

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
    manage_url: str | None = None
    previous_when: str | None = None
    # Nothing was ever taken: a cancellation has nothing to refund, whatever the policy.
    charged_nothing: bool = False
    # What the manage link still offers: an ended booking can only be seen.
    manage_words: str = "See your booking"


# What the manage page offers for a booking in each status (others can only be seen).
_MANAGE_WORDS = {
    BookingStatus.CONFIRMED: "See, cancel or move your booking",
    BookingStatus.HELD: "See or cancel your booking",
    BookingStatus.AWAITING_PAYMENT: "See or cancel your booking",
}


def payment_name(method_or_provider: str) -> str:
    """``sandbox`` as ``Sandbox gateway``, ``wallet`` as ``Wallet``: the names customers know."""
    return PAYMENT_NAMES.get(method_or_provider, method_or_provider)


def refund_words(refund: RefundInfo, reason: str | None = None) -> RefundWords:
    """A refund in words: ``₹250.00`` ``was refunded to your wallet``, true to its status."""
    if refund.method == PaymentMethod.WALLET:
        where = "to your wallet"
    else:
        where = f"to the card or account you paid with through {payment_name(refund.method)}"
    words = {
        RefundStatus.PROCESSED: f"was refunded {where}",
        RefundStatus.PENDING: f"is on its way {where} (it can take a few days to show)",
        RefundStatus.REQUESTED: f"is on its way {where} (it can take a few days to show)",
        RefundStatus.OWED: (f"is owed to you; we will refund it {where} and write when it is done"),
    }[refund.status]
    return RefundWords(money(refund.amount, refund.currency), words, reason)


def refund_sentence(refund: RefundInfo) -> str:
    """The refund in one sentence, as a mail says it (``₹250.00 was refunded to your wallet.``)."""
    words = refund_words(refund)
    return f"{words.amount} {words.words}."


def mail_context(
    booking: Booking,
    resource: Resource,
    kind: NotificationKind,
    *,
    refund: RefundInfo | None = None,
    charged: int | None = None,
    about: str | None = None,
    manage_url: str | None = None,
    previous: tuple[datetime, datetime] | None = None,
) -> MailContext:
    """Everything the templates of ``kind`` need, from the booking as it is now.

    ``refund`` and ``charged`` are the money this change moved; ``about`` tells
    an operator's refund (``ops:…``) and an owed refund gone through from one of
    money the booking did not need; ``previous`` is where a move came from.
    """
    contact = booking.contact or {}
    ended = booking.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED)
    paid_with = (
        "from your wallet"
        if booking.payment_method == PaymentMethod.WALLET
        else f"with {payment_name(booking.payment_provider or 'your payment method')}"
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
    zones = _Zones(resource.timezone, contact.get("timezone"), resource.name)
    return MailContext(
        subject=SUBJECTS[kind],
        booking_id=str(booking.id),
        name=contact.get("name"),
        resource=resource.name,
        when=zones.span(booking.starts_at, booking.ends_at),
        price=money(booking.amount, booking.currency),
        paid_with=paid_with,
        meeting_url=None if ended else booking.meeting_url,
        has_meeting=bool(booking.meeting_provider),
        refund=refund_words(refund, _refund_reason(kind, about)) if refund else None,
        charged=money(charged, booking.currency) if charged else None,
        reason_words=_REASONS.get(booking.reason or ""),
        deadline=zones.time(booking.hold_expires_at) if booking.hold_expires_at else None,
        manage_url=manage_url,
        previous_when=zones.span(*previous) if previous else None,
        charged_nothing=booking.captured_amount == 0,
        manage_words=_MANAGE_WORDS.get(BookingStatus(booking.status), "See your booking"),
    )


@dataclass(frozen=True)
class _Zones:
    """Times in the customer's zone, the resource's beside them; without one, the resource's."""

    resource_zone: str
    customer_zone: str | None
    resource: str

    def span(self, starts: datetime, ends: datetime) -> str:
        there = local_span(starts, ends, self.resource_zone)
        if not self.customer_zone or self.customer_zone == self.resource_zone:
            return there
        mine = local_span(starts, ends, self.customer_zone)
        return f"{mine}, your time ({there} at {self.resource})"

    def time(self, at: datetime) -> str:
        there = local_time(at, self.resource_zone)
        if not self.customer_zone or self.customer_zone == self.resource_zone:
            return there
        return f"{local_time(at, self.customer_zone)}, your time ({there})"


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
    if about is not None and about.startswith(OWED_REFUND_DONE):
        return "this is the refund we wrote was owed to you"
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
    attendee_name: str | None = None,
    manage_url: str | None = None,
) -> bytes:
    """The booking as an iCalendar invite: one stable UID, SEQUENCE raised by each change.

    ``method`` is ``REQUEST`` (a new or changed event) or ``CANCEL``. The
    attendee is named (``CN``: their name, else their address) and asked to
    answer (``RSVP``, ``PARTSTAT=NEEDS-ACTION``), as calendar clients expect of
    an invitation; the summary names the booking.
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
    event.add("summary", f"{resource.name} booking")
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    if booking.meeting_url and method != "CANCEL":
        event.add("location", booking.meeting_url)
        event.add("url", booking.meeting_url)
    if manage_url:
        event.add("description", f"Manage your booking: {manage_url}")
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    guest = vCalAddress(f"mailto:{attendee}")
    guest.params["CN"] = attendee_name or attendee
    guest.params["ROLE"] = "REQ-PARTICIPANT"
    guest.params["PARTSTAT"] = "NEEDS-ACTION"
    guest.params["RSVP"] = "TRUE"
    event.add("attendee", guest)
    calendar.add_component(event)
    return bytes(calendar.to_ical())
