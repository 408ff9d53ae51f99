"""A card booking: the sandbox checkout, back to the host's page (return_url), the confirmation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.async_api import Page, expect

from core.auth import issue_token

from support.auth import JWT_SECRET, bearer
from support.browser import Host
from support.devstack import DevStack


async def test_a_customer_pays_at_the_checkout_and_comes_back_confirmed(
    page: Page,
    host: Host,
    stack: DevStack,
    api: httpx.AsyncClient,
    resource: dict[str, Any],
    shot: Any,
) -> None:
    """Book by card: the checkout names the way back, Pay returns to the confirmation."""
    customer = uuid.uuid4()
    host.token = issue_token(JWT_SECRET, customer)
    await page.goto(host.page_url(resource["id"]))
    await page.locator("button.time").first.click()
    await page.get_by_label("Card (secure checkout)").check()
    await shot("chosen")
    await page.get_by_role("button", name="Book").click()

    await page.wait_for_url(f"http://127.0.0.1:{stack.sandbox_port}/checkout/**")
    await expect(page.get_by_role("heading", name="Sandbox checkout")).to_be_visible()
    await shot("checkout")
    await page.get_by_role("button", name="Pay").click()

    await page.wait_for_url(f"{host.origin}/book/{resource['id']}?*")
    await expect(page.locator("#headline")).to_have_text("You're booked", timeout=30_000)
    await shot("confirmed")
    assert "outcome=paid" in page.url
    booking_id = await page.locator("#booking-id").inner_text()
    read = await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))
    assert read.json()["status"] == "CONFIRMED"
    assert read.json()["payment"]["method"] == "gateway"
