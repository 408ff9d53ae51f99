"""The words of the mail that follows an owed refund, and of the manage link in every mail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from integrations.mail_content import mail_context, refund_sentence, render
from models.db import Booking, Resource
from models.domain import NotificationKind, RefundStatus
from models.payloads.common import RefundInfo
from models.payloads.notifications import OWED_REFUND_DONE

STARTS = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
LINK = "https://book.example/manage/t0k3n"


def _booking(status: str) -> tuple[Booking, Resource]:
    resource = Resource(id=uuid.uuid4(), name="Dr. Rao", timezone="Asia/Kolkata")
    booking = Booking(
        id=uuid.uuid4(),
        status=status,
        amount=50_000,
        currency="INR",
        payment_method="wallet",
        captured_amount=50_000,
        refunded_amount=0,
        meeting_provider="jitsi",
        contact={"email": "asha@example.com", "name": "Asha"},
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=30),
    )
    return booking, resource


def test_an_owed_wallet_refund_gone_through_is_told_as_made_with_its_reason() -> None:
    """₹500.00 was refunded to the wallet; why: it is the refund written as owed; link to see it."""
    booking, resource = _booking("CANCELLED")
    done = RefundInfo(amount=50_000, currency="INR", method="wallet", status=RefundStatus.PROCESSED)
    context = mail_context(
        booking,
        resource,
        NotificationKind.PAYMENT_REFUNDED,
        refund=done,
        about=f"{OWED_REFUND_DONE}wallet:cancellation:None:None",
        manage_url=LINK,
    )

    text, html = render(NotificationKind.PAYMENT_REFUNDED, context)

    assert context.subject == "Your payment was refunded"
    assert "₹500.00 was refunded to your wallet.\n" in text
    assert "Why: this is the refund we wrote was owed to you\n" in text
    assert "14:30 to 15:00 IST (UTC+05:30)" in text
    assert f"See your booking: {LINK}" in text
    assert "cancel or move" not in text
    assert f'<a href="{LINK}">See your booking</a>' in html


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("CONFIRMED", "See, cancel or move your booking"),
        ("AWAITING_PAYMENT", "See or cancel your booking"),
        ("CANCELLED", "See your booking"),
        ("COMPLETED", "See your booking"),
        ("EXPIRED", "See your booking"),
    ],
)
def test_the_manage_link_offers_only_what_the_booking_still_allows(status: str, words: str) -> None:
    """A confirmed booking can be cancelled or moved there; an ended one only seen."""
    booking, resource = _booking(status)
    kind = NotificationKind.BOOKING_REMINDER
    context = mail_context(booking, resource, kind, manage_url=LINK)

    text, html = render(kind, context)

    assert f"{words}: {LINK}" in text
    assert f'<a href="{LINK}">{words}</a>' in html


def test_a_refund_in_one_sentence_is_the_mails_sentence() -> None:
    """What the API shows a page: the amount formatted, then what became of it, one sentence."""
    owed = RefundInfo(amount=42_000, currency="INR", method="sandbox", status=RefundStatus.OWED)

    assert refund_sentence(owed) == (
        "₹420.00 is owed to you; we will refund it to the card or account you paid with"
        " through Sandbox gateway and write when it is done."
    )
