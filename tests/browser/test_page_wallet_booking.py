"""From a host application on another origin, a customer books with the wallet (CORS for real)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Page, expect

from core.auth import issue_token

from support.auth import JWT_SECRET, bearer
from support.browser import Host, funded_customer


async def test_a_customer_books_with_the_wallet_from_another_origin(
    page: Page, host: Host, api: httpx.AsyncClient, resource: dict[str, Any], shot: Any
) -> None:
    """Times in the browser's zone, a wallet payment through preflighted calls, the confirmation."""
    customer = await funded_customer(api)
    host.token = issue_token(JWT_SECRET, customer)
    slot = resource["slots"][1]
    await page.goto(host.page_url(resource["id"]))

    await expect(page.locator("#zone")).to_contain_text("Europe/Berlin")
    time_button = page.locator(f'button.time[data-start="{slot["starts_at"]}"]')
    await expect(time_button).to_be_visible()
    await shot("times")
    await time_button.click()
    await page.get_by_label("Email for the confirmation").fill("asha@example.com")
    await shot("chosen")
    await page.get_by_role("button", name="Book").click()

    await expect(page.locator("#headline")).to_have_text("You're booked")
    await shot("confirmed")
    booking_id = await page.locator("#booking-id").inner_text()
    read = await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))
    assert read.json()["status"] == "CONFIRMED"
    assert read.json()["slot_id"] == slot["id"]
    assert read.json()["payment"]["method"] == "wallet"
