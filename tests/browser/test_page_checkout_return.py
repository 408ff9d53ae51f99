"""A card booking: the sandbox checkout, back to the host's page (return_url), the confirmation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

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


async def test_a_declined_payment_comes_back_in_words_and_the_customer_pays_again(
    page: Page,
    host: Host,
    stack: DevStack,
    api: httpx.AsyncClient,
    resource: dict[str, Any],
    shot: Any,
) -> None:
    """Declined at the checkout: back at return_url, said in words; "Pay again" then confirms.

    The way back carries outcome=declined and the booking's id; the booking still
    waits for payment with its time held, and a second try at the same checkout pays.
    """
    customer = uuid.uuid4()
    host.token = issue_token(JWT_SECRET, customer)
    slot = resource["slots"][1]
    await page.goto(host.page_url(resource["id"]))
    await page.locator(f'button.time[data-start="{slot["starts_at"]}"]').click()
    await page.get_by_label("Card (secure checkout)").check()
    await page.get_by_role("button", name="Book").click()

    await page.wait_for_url(f"http://127.0.0.1:{stack.sandbox_port}/checkout/**")
    checkout = page.url
    await shot("checkout")
    await page.get_by_role("button", name="Decline").click()

    await page.wait_for_url(f"{host.origin}/book/{resource['id']}?*outcome=declined*")
    await expect(page.locator("#headline")).to_have_text("Waiting for your payment")
    await expect(page.locator("#booking-status")).to_have_text("AWAITING_PAYMENT")
    booking_id = await page.locator("#booking-id").inner_text()
    assert f"booking_id={booking_id}" in page.url
    read = (await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))).json()
    # The hold's end in the customer's zone (Berlin), as the page words it.
    until = datetime.fromisoformat(read["hold_expires_at"]).astimezone(ZoneInfo("Europe/Berlin"))
    await expect(page.get_by_role("alert")).to_have_text(
        f"Your payment was declined. You can try again until {until:%H:%M};"
        " the time is held for you."
    )
    await shot("declined")
    assert (read["status"], read["slot_id"]) == ("AWAITING_PAYMENT", slot["id"])
    # The time stays held for the customer while they try again.
    held = (await api.get(f"/v1/slots/{slot['id']}")).json()
    assert held["remaining_capacity"] == 0

    await page.get_by_role("link", name="Pay again").click()
    await page.wait_for_url(checkout)
    await shot("checkout-again")
    await page.get_by_role("button", name="Pay").click()

    await page.wait_for_url(f"{host.origin}/book/{resource['id']}?*outcome=paid*")
    await expect(page.locator("#headline")).to_have_text("You're booked", timeout=30_000)
    await expect(page.get_by_role("alert")).to_have_count(0)
    await shot("confirmed")
    read = (await api.get(f"/v1/bookings/{booking_id}", headers=bearer(customer))).json()
    assert (read["status"], read["payment"]["status"]) == ("CONFIRMED", "CAPTURED")
