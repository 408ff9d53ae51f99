"""The mail's manage link opens the page; the customer cancels there, without signing in."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

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


async def test_a_customer_cancels_through_the_mails_manage_link(
    page: Page, stack: DevStack, api: httpx.AsyncClient, resource: dict[str, Any], shot: Any
) -> None:
    """Confirmation mail, its link in the browser, cancel: the booking is CANCELLED."""
    customer = await funded_customer(api)
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    booked = await api.post(
        "/v1/bookings",
        json={
            "slot_id": resource["slots"][2]["id"],
            "payment": {"method": "wallet"},
            "contact": {"email": email, "name": "Asha", "timezone": "Europe/Berlin"},
        },
        headers={**bearer(customer), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert booked.status_code == 201, booked.text
    booking_id = booked.json()["id"]

    found = _LINK.search(text_of(await _mail_to(stack, email)))
    assert found, "the confirmation carries no manage link"
    await page.goto(found.group(1))

    await expect(page.locator("#booking-id")).to_have_text(booking_id)
    await expect(page.locator("#headline")).to_have_text("You're booked")
    await shot("opened")
    await page.get_by_role("button", name="Cancel booking").click()
    await shot("asked")
    await page.get_by_role("button", name="Yes, cancel it").click()

    await expect(page.locator("#headline")).to_have_text("This booking is cancelled")
    await expect(page.get_by_role("status").last).to_contain_text("Your booking is cancelled")
    await shot("cancelled")
    read = await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))
    assert read.json()["status"] == "CANCELLED"
