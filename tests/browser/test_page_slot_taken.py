"""A time taken between choosing it and booking it: the 409 in words, and fresh times."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.async_api import Page, expect

from core.auth import issue_token

from support.auth import JWT_SECRET, bearer
from support.browser import Host, funded_customer


async def test_a_time_taken_meanwhile_is_said_in_words(
    page: Page, host: Host, api: httpx.AsyncClient, resource: dict[str, Any], shot: Any
) -> None:
    """Someone else books the chosen slot first: "That time was just taken", not a code."""
    host.token = issue_token(JWT_SECRET, await funded_customer(api))
    slot = resource["slots"][0]
    await page.goto(host.page_url(resource["id"]))
    await page.locator(f'button.time[data-start="{slot["starts_at"]}"]').click()
    await expect(page.get_by_role("button", name="Book")).to_be_visible()

    other = await funded_customer(api)
    taken = await api.post(
        "/v1/bookings",
        json={"slot_id": slot["id"], "payment": {"method": "wallet"}},
        headers={**bearer(other), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert taken.status_code == 201, taken.text
    await page.get_by_role("button", name="Book").click()

    await expect(page.get_by_role("alert")).to_contain_text("That time was just taken")
    await expect(page.locator(f'button.time[data-start="{slot["starts_at"]}"]')).to_have_count(0)
    await expect(page.locator("button.time")).to_have_count(2)
    await shot("taken")
