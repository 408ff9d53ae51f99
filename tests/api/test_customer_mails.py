"""What customers receive: their local time, their money, and an invite that follows each change.

Times in the resource's timezone with its offset, money formatted for its
currency, the amounts that actually moved, HTML with a plain-text alternative.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from temporalio.client import Client

from stack.mailsink import MailSink
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, fund
from support.mail import html_of, invite_of, text_of
from support.workflows import settled, until_state


async def _slots(api: httpx.AsyncClient, starts: list[datetime]) -> list[dict[str, Any]]:
    """Half-hour slots of "Dr. Rao" (Asia/Kolkata) at ``starts``, ₹500.00 each."""
    resource = await api.post(
        "/v1/resources",
        json={"name": "Dr. Rao", "timezone": "Asia/Kolkata"},
        headers=OPERATOR,
    )
    slots = await api.post(
        f"/v1/resources/{resource.json()['id']}/slots",
        json={
            "slots": [
                {
                    "starts_at": s.isoformat(),
                    "ends_at": (s + timedelta(minutes=30)).isoformat(),
                    "price": {"amount": 50_000, "currency": "INR"},
                }
                for s in starts
            ]
        },
        headers=OPERATOR,
    )
    items: list[dict[str, Any]] = slots.json()["items"]
    return items


def _mails(sink: MailSink, to: str) -> list[EmailMessage]:
    return [m for m in sink.messages() if m["To"] == to]


async def test_confirmation_speaks_local_time_and_money_with_html_and_an_invite(
    api: httpx.AsyncClient, temporal: Client, mail_sink: MailSink
) -> None:
    """09:00 UTC is 14:30 IST (UTC+05:30); 50000 paise is ₹500.00; the invite is a REQUEST."""
    customer, email = uuid.uuid4(), f"{uuid.uuid4().hex[:8]}@example.com"
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    (slot,) = await _slots(api, [starts])
    await fund(api, customer, 50_000)
    booking = (
        await book(api, customer, slot["id"], contact={"email": email, "name": "Asha"})
    ).json()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))

    (mail,) = _mails(mail_sink, email)
    text, html = text_of(mail), html_of(mail)
    calendar = invite_of(mail)

    assert mail["Subject"] == "Your booking is confirmed"
    assert "Hello Asha," in text
    assert "14:30 to 15:00 IST (UTC+05:30)" in text
    assert "Paid:  ₹500.00 from your wallet" in text
    assert "Meeting link: https://" in text
    assert "50000" not in text
    assert "14:30 to 15:00 IST (UTC+05:30)" in html
    assert "<strong>₹500.00</strong>" in html
    assert calendar is not None
    assert calendar["METHOD"] == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"{booking['id']}@booking-engine"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == starts
    assert str(event["SUMMARY"]) == "Dr. Rao booking"


async def test_every_change_mails_what_moved_and_the_invite_follows_with_one_uid(
    api: httpx.AsyncClient, temporal: Client, mail_sink: MailSink
) -> None:
    """Moved, then cancelled inside the notice: two more mails, SEQUENCE 1 then 2.

    The last is a CANCEL that says ₹250.00 (the half refunded), not ₹500.00, and
    carries no meeting link.
    """
    customer, email = uuid.uuid4(), f"{uuid.uuid4().hex[:8]}@example.com"
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    first, second = await _slots(api, [soon, soon + timedelta(hours=2)])
    await fund(api, customer, 50_000)
    booking = (await book(api, customer, first["id"], contact={"email": email})).json()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))
    moved = await api.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": second["id"]},
        headers=bearer(customer),
    )
    await until_state(handle, settled("CONFIRMED"))
    cancelled = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))

    confirmed_mail, moved_mail, cancelled_mail = _mails(mail_sink, email)
    invites = [invite_of(m) for m in (confirmed_mail, moved_mail, cancelled_mail)]
    events = [c.walk("VEVENT")[0] for c in invites if c is not None]
    cancel_text = text_of(cancelled_mail)

    assert moved.status_code == 200, moved.text
    assert cancelled.json()["refund"]["amount"] == {"amount": 25_000, "currency": "INR"}
    assert [m["Subject"] for m in (moved_mail, cancelled_mail)] == [
        "Your booking was moved",
        "Your booking was cancelled",
    ]
    assert "The price is the same." in text_of(moved_mail)
    assert "₹250.00 was refunded to your wallet." in cancel_text
    assert "₹500.00" not in cancel_text
    assert "Meeting link" not in cancel_text
    assert len({str(e["UID"]) for e in events}) == 1
    assert [e["SEQUENCE"] for e in events] == [0, 1, 2]
    assert [c["METHOD"] for c in invites if c is not None] == ["REQUEST", "REQUEST", "CANCEL"]
    assert events[1].decoded("DTSTART") == soon + timedelta(hours=2)
    assert str(events[2]["STATUS"]) == "CANCELLED"
