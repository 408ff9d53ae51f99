"""The mail's manage link opens the page; the customer cancels or moves there, signed out."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Page, expect

from stack.mailsink import read_messages

from support.auth import bearer
from support.browser import funded_customer
from support.devstack import DevStack
from support.mail import text_of

_LINK = re.compile(r"(http://\S+/manage/[A-Za-z0-9_-]+)")


async def _mail_to(stack: DevStack, address: str, within: float = 60) -> EmailMessage:
    folder = Path(stack.env["BOOKING_DATA_DIR"]) / "mail"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if folder.exists():
            mails = [m for m in read_messages(folder) if m["To"] == address]
            if mails:
                return mails[0]
        # The sink is another process's folder: there is no event to await.
        await asyncio.sleep(0.5)
    raise AssertionError(f"no mail to {address} within {within}s")


async def _booked_by_mail(
    stack: DevStack, api: httpx.AsyncClient, slot: dict[str, Any]
) -> tuple[uuid.UUID, str, str]:
    """A wallet booking of ``slot`` with an email: its customer, id and the mail's manage link."""
    customer = await funded_customer(api)
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    booked = await api.post(
        "/v1/bookings",
        json={
            "slot_id": slot["id"],
            "payment": {"method": "wallet"},
            "contact": {"email": email, "name": "Asha", "timezone": "Europe/Berlin"},
        },
        headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert booked.status_code == 201, booked.text
    found = _LINK.search(text_of(await _mail_to(stack, email)))
    assert found, "the confirmation carries no manage link"
    return customer, booked.json()["id"], found.group(1)


async def test_a_customer_cancels_through_the_mails_manage_link(
    page: Page, stack: DevStack, api: httpx.AsyncClient, resource: dict[str, Any], shot: Any
) -> None:
    """Confirmation mail, its link, cancel: CANCELLED, and the refund said as it stands.

    The wallet refund is made at once: the page says it was refunded (the mails'
    sentence), never that it "will be"; opened again, the page lists it the same way.
    """
    # More than a day ahead: the policy refunds all of it.
    customer, booking_id, link = await _booked_by_mail(stack, api, resource["slots"][2])
    await page.goto(link)

    await expect(page.locator("#booking-id")).to_have_text(booking_id)
    await expect(page.locator("#headline")).to_have_text("You're booked")
    await expect(page.locator("#refunds")).to_have_count(0)
    await shot("opened")
    await page.get_by_role("button", name="Cancel booking").click()
    await shot("asked")
    await page.get_by_role("button", name="Yes, cancel it").click()

    await expect(page.locator("#headline")).to_have_text("This booking is cancelled")
    said = page.get_by_role("status").last
    await expect(said).to_have_text(
        "Your booking is cancelled. ₹500.00 was refunded to your wallet."
    )
    await expect(page.get_by_text("will be refunded")).to_have_count(0)
    await shot("cancelled")
    read = await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))
    assert read.json()["status"] == "CANCELLED"
    assert [r["status"] for r in read.json()["refunds"]] == ["PROCESSED"]

    await page.reload()
    await expect(page.locator("#headline")).to_have_text("This booking is cancelled")
    await expect(page.locator("#refunds li")).to_have_text(["₹500.00 was refunded to your wallet."])
    await expect(page.get_by_role("button", name="Cancel booking")).to_have_count(0)
    await shot("opened-again")


def _berlin(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(ZoneInfo("Europe/Berlin"))


async def test_a_customer_moves_through_the_mails_manage_link(
    page: Page, stack: DevStack, api: httpx.AsyncClient, resource: dict[str, Any], shot: Any
) -> None:
    """The link's "Move to another time", a free time picked: the page, the booking, both slots."""
    old, new = resource["slots"][2], resource["slots"][1]
    customer, booking_id, link = await _booked_by_mail(stack, api, old)
    await page.goto(link)
    await expect(page.locator("#headline")).to_have_text("You're booked")
    starts, ends = _berlin(new["starts_at"]), _berlin(new["ends_at"])
    new_span = f"{starts:%H:%M} \u2013 {ends:%H:%M}"  # spanOf: an en dash between
    await expect(page.locator(".chosen")).not_to_contain_text(new_span)
    await shot("opened")

    await page.get_by_role("button", name="Move to another time").click()
    # The free times: the booked one is not offered, the other two are.
    await expect(page.locator("button.time")).to_have_count(2)
    await expect(page.locator(f'button.time[data-start="{old["starts_at"]}"]')).to_have_count(0)
    await shot("free-times")
    await page.locator(f'button.time[data-start="{new["starts_at"]}"]').click()

    said = page.get_by_role("status").last
    await expect(said).to_contain_text("Your booking is moved to ")
    await expect(said).to_contain_text(f"{starts.day} {starts:%B}, {new_span}.")
    await expect(page.locator("#headline")).to_have_text("You're booked")
    await expect(page.locator(".chosen")).to_contain_text(new_span)
    await shot("moved")
    read = (await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))).json()
    assert (read["status"], read["slot_id"]) == ("CONFIRMED", new["id"])
    assert datetime.fromisoformat(read["starts_at"]) == datetime.fromisoformat(new["starts_at"])
    taken = (await api.get(f"/v1/slots/{new['id']}")).json()
    freed = (await api.get(f"/v1/slots/{old['id']}")).json()
    assert (taken["remaining_capacity"], freed["remaining_capacity"]) == (0, 1)

    await page.reload()
    await expect(page.locator(".chosen")).to_contain_text(new_span)
    await shot("opened-again")
