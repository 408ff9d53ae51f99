"""Manage links: every mail links to a page for its booking; the link acts as the owner, no login.

``GET /v1/manage/{token}`` answers what the owner's read answers; cancel and
reschedule by the link behave as the owner's calls. A tampered, expired or
foreign token is 401 in the error envelope.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from temporalio.client import Client

from core.manage_links import issue, link_key, public_base, verify
from core.settings import Settings
from stack.mailsink import MailSink
from workflows.booking import BookingWorkflow

from support.auth import OPERATOR, bearer
from support.catalog import book, fund
from support.mail import html_of, text_of
from support.workflows import settled, until_state

_LINK = re.compile(r"(\S+)/manage/([A-Za-z0-9_-]+)")


async def _two_slots(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Two one-hour slots of one resource, three and four days ahead, ₹500.00 each."""
    resource = await api.post(
        "/v1/resources", json={"name": "Dr. Rao", "timezone": "Asia/Kolkata"}, headers=OPERATOR
    )
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    slots = await api.post(
        f"/v1/resources/{resource.json()['id']}/slots",
        json={
            "slots": [
                {
                    "starts_at": (starts + timedelta(days=d)).isoformat(),
                    "ends_at": (starts + timedelta(days=d, hours=1)).isoformat(),
                    "price": {"amount": 50_000, "currency": "INR"},
                }
                for d in (0, 1)
            ]
        },
        headers=OPERATOR,
    )
    items: list[dict[str, Any]] = slots.json()["items"]
    return items


async def _confirmed(
    api: httpx.AsyncClient, temporal: Client, slot_id: str, email: str | None = None
) -> tuple[uuid.UUID, dict[str, Any]]:
    customer = uuid.uuid4()
    await fund(api, customer, 50_000)
    contact = {"email": email} if email else None
    booking: dict[str, Any] = (await book(api, customer, slot_id, contact=contact)).json()
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))
    return customer, booking


def _token(settings: Settings, booking_id: str, ttl: int = 3600) -> str:
    key = link_key(settings)
    assert key is not None
    return issue(key, uuid.UUID(booking_id), int(time.time()) + ttl)


def _links(message: EmailMessage) -> list[tuple[str, str]]:
    return _LINK.findall(text_of(message))


async def test_the_link_reads_the_booking_as_its_owner_does(
    api: httpx.AsyncClient, temporal: Client, settings: Settings, mail_sink: MailSink
) -> None:
    """The confirmation's link opens the booking: the same body as the owner's GET, no login."""
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    slot, _ = await _two_slots(api)
    customer, booking = await _confirmed(api, temporal, slot["id"], email)
    (mail,) = [m for m in mail_sink.messages() if m["To"] == email]
    ((base, token),) = _links(mail)

    by_link = await api.get(f"/v1/manage/{token}")
    by_owner = await api.get(f"/v1/bookings/{booking['id']}", headers=bearer(customer))
    page = await api.get(f"/manage/{token}")

    assert base == public_base(settings) == "http://127.0.0.1:8000"
    assert f'href="{base}/manage/{token}"' in html_of(mail)
    assert by_link.status_code == 200, by_link.text
    assert by_link.json() == by_owner.json()
    assert page.status_code == 200
    assert 'id="booking-page"' in page.text


async def test_a_cancel_by_the_link_refunds_as_the_owners_cancel_does(
    api: httpx.AsyncClient, temporal: Client, settings: Settings
) -> None:
    """Cancelled by the link: the full refund to the wallet; the owner's repeat answers the same."""
    slot, _ = await _two_slots(api)
    customer, booking = await _confirmed(api, temporal, slot["id"])
    token = _token(settings, booking["id"])

    cancelled = await api.post(f"/v1/manage/{token}/cancel", json={"reason": "plans changed"})
    again = await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
    wallet = await api.get("/v1/wallets/me", headers=bearer(customer))
    read = await api.get(f"/v1/manage/{token}")

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["refund"] == {
        "amount": {"amount": 50_000, "currency": "INR"},
        "method": "wallet",
        "status": "PROCESSED",
        "words": "₹500.00 was refunded to your wallet.",
    }
    assert again.json() == cancelled.json()
    assert {"currency": "INR", "amount": 50_000} in [
        {"currency": b["currency"], "amount": b["amount"]} for b in wallet.json()["balances"]
    ]
    assert (read.json()["status"], read.json()["reason"]) == ("CANCELLED", "CANCELLED_BY_CUSTOMER")
    # What the manage page shows of it: the mails' sentence for a refund that was made.
    assert [r["words"] for r in read.json()["refunds"]] == ["₹500.00 was refunded to your wallet."]


async def test_a_move_by_the_link_answers_as_the_owners_move(
    api: httpx.AsyncClient, temporal: Client, settings: Settings
) -> None:
    """Moved by the link to the other slot: the owner's answer shape; an unknown field is 422."""
    first, second = await _two_slots(api)
    _, booking = await _confirmed(api, temporal, first["id"])
    token = _token(settings, booking["id"])

    moved = await api.post(f"/v1/manage/{token}/reschedule", json={"slot_id": second["id"]})
    unknown = await api.post(f"/v1/manage/{token}/reschedule", json={"price": 1})

    assert moved.status_code == 200, moved.text
    assert moved.json()["booking"]["slot_id"] == second["id"]
    assert moved.json()["difference"] == {"amount": 0, "currency": "INR"}
    assert unknown.status_code == 422


async def test_tampered_expired_and_foreign_tokens_are_401_in_the_envelope(
    api: httpx.AsyncClient, temporal: Client, settings: Settings
) -> None:
    """Each route refuses a changed, a late, another key's and an unknown booking's token."""
    slot, _ = await _two_slots(api)
    _, booking = await _confirmed(api, temporal, slot["id"])
    good = _token(settings, booking["id"])
    key = link_key(settings)
    assert key is not None
    refused = {
        "tampered": good[:10] + ("A" if good[10] != "A" else "B") + good[11:],
        "expired": issue(key, uuid.UUID(booking["id"]), int(time.time()) - 5),
        "foreign": issue(b"f" * 32, uuid.UUID(booking["id"]), int(time.time()) + 3600),
        "another booking": _token(settings, str(uuid.uuid4())),
        "garbage": "x" * 50,
    }

    for name, token in refused.items():
        answers = [
            await api.get(f"/v1/manage/{token}"),
            await api.post(f"/v1/manage/{token}/cancel"),
            await api.post(f"/v1/manage/{token}/reschedule", json={"slot_id": slot["id"]}),
        ]
        for answer in answers:
            assert answer.status_code == 401, (name, answer.text)
            assert answer.json()["error"]["code"] == "UNAUTHENTICATED"
            assert answer.json()["error"]["request_id"] == answer.headers["X-Request-ID"]
        assert (await api.get(f"/manage/{token}")).status_code == 401
    assert (await api.get(f"/v1/manage/{good}")).json()["status"] == "CONFIRMED"


async def test_every_mail_of_a_booking_carries_its_manage_link(
    api: httpx.AsyncClient, temporal: Client, settings: Settings, mail_sink: MailSink
) -> None:
    """Confirmed, moved, cancelled: each mail links to a token that grants this booking."""
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    first, second = await _two_slots(api)
    customer, booking = await _confirmed(api, temporal, first["id"], email)
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await api.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"slot_id": second["id"]},
        headers=bearer(customer),
    )
    await until_state(handle, settled("CONFIRMED"))
    await api.post(f"/v1/bookings/{booking['id']}/cancel", headers=bearer(customer))
    key = link_key(settings)
    assert key is not None

    mails = [m for m in mail_sink.messages() if m["To"] == email]
    granted = [verify(key, token).booking_id for m in mails for _, token in _links(m)]

    assert len(mails) == 3
    assert granted == [uuid.UUID(booking["id"])] * 3
