"""Return URLs: only under an allowed origin; the sandbox checkout sends the browser back."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.settings import Settings
from sandbox.checkout import checkout_page, return_urls
from sandbox.persistence import StateFile
from sandbox.schemas import CreateOrderIn
from sandbox.store import Store, utc_now

from support.auth import bearer
from support.catalog import make_slot
from support.engine import api_client

ORIGIN = "https://shop.example.com"
REFUSED = [
    "https://shop.example.com.evil.com/back",
    "https://user@shop.example.com/back",
    "https://shop.example.com@evil.com/back",
    "http://shop.example.com/back",
    "https://shop.example.com:8443/back",
    "javascript:alert(1)",
    "//shop.example.com/back",
    "/back",
    "https://evil.example.net/back",
]


@pytest.fixture
def browser_settings(settings: Settings) -> Settings:
    """The suite's settings with one allowed browser origin."""
    return settings.model_copy(update={"cors_origins": [ORIGIN]})


def _booking(slot_id: str, return_url: str, method: str = "gateway") -> dict[str, object]:
    payment = (
        {"method": method, "provider": "sandbox"} if method == "gateway" else {"method": method}
    )
    return {"slot_id": slot_id, "payment": payment, "return_url": return_url}


async def test_a_return_url_off_the_allowed_origins_is_refused(
    api: httpx.AsyncClient, browser_settings: Settings
) -> None:
    """Lookalike hosts, userinfo, other schemes or ports, relative URLs: 422 naming return_url."""
    customer = uuid.uuid4()
    async with api_client(browser_settings) as browser_api:
        slot = await make_slot(browser_api)
        headers = {**bearer(customer), "Idempotency-Key": str(uuid.uuid4())}
        for url in REFUSED:
            booking = await browser_api.post(
                "/v1/bookings", json=_booking(slot["id"], url), headers=headers
            )
            topup = await browser_api.post(
                "/v1/wallets/me/topups",
                json={
                    "amount": {"amount": 100_000, "currency": "INR"},
                    "provider": "sandbox",
                    "return_url": url,
                },
                headers=headers,
            )
            for answer in (booking, topup):
                assert answer.status_code == 422, (url, answer.text)
                assert answer.json()["error"]["message"].startswith("return_url"), url
        wallet = await browser_api.post(
            "/v1/bookings", json=_booking(slot["id"], f"{ORIGIN}/x", "wallet"), headers=headers
        )

    assert wallet.status_code == 422
    assert wallet.json()["error"]["message"] == "return_url: only for gateway payments"


async def test_the_sandbox_checkout_sends_the_browser_back_with_the_booking_and_outcome(
    api: httpx.AsyncClient, sandbox: httpx.AsyncClient, browser_settings: Settings
) -> None:
    """The order stores the URL with booking_id; the page names it and both outcomes."""
    async with api_client(browser_settings) as browser_api:
        slot = await make_slot(browser_api)
        answer = await browser_api.post(
            "/v1/bookings",
            json=_booking(slot["id"], f"{ORIGIN}/booked?lang=en"),
            headers={**bearer(uuid.uuid4()), "Idempotency-Key": str(uuid.uuid4())},
        )
    assert answer.status_code == 201, answer.text
    booking = answer.json()
    order_id = booking["payment"]["order_id"]

    order = (await sandbox.get(f"/v1/orders/{order_id}", headers=SANDBOX_KEY)).json()
    page = (await sandbox.get(f"/checkout/{order_id}")).text

    query = parse_qs(urlsplit(order["return_url"]).query)
    assert order["return_url"].startswith(f"{ORIGIN}/booked?")
    assert query == {"lang": ["en"], "booking_id": [booking["id"]]}
    assert "Afterwards you return to" in page
    assert f"booking_id={booking['id']}" in page
    assert "outcome=paid" in page
    assert "outcome=declined" in page


async def test_a_topup_return_url_names_the_topup(
    api: httpx.AsyncClient, sandbox: httpx.AsyncClient, browser_settings: Settings
) -> None:
    """A top-up's checkout returns with topup_id."""
    async with api_client(browser_settings) as browser_api:
        answer = await browser_api.post(
            "/v1/wallets/me/topups",
            json={
                "amount": {"amount": 100_000, "currency": "INR"},
                "provider": "sandbox",
                "return_url": f"{ORIGIN}/wallet",
            },
            headers={**bearer(uuid.uuid4()), "Idempotency-Key": str(uuid.uuid4())},
        )
    assert answer.status_code == 201, answer.text
    topup = answer.json()

    order = (
        await sandbox.get(f"/v1/orders/{topup['payment']['order_id']}", headers=SANDBOX_KEY)
    ).json()

    assert order["return_url"] == f"{ORIGIN}/wallet?topup_id={topup['id']}"


async def test_the_sandbox_keeps_the_return_url_across_a_restart(tmp_path: Path) -> None:
    """An order read back from the state file still knows where to send the browser."""
    state = StateFile(tmp_path / "sandbox.sqlite")
    store = Store(clock=utc_now, emit=lambda _: None, state=state)
    order, _ = await store.create_order(
        CreateOrderIn(
            amount=500, currency="INR", receipt="r-1", return_url=f"{ORIGIN}/b?booking_id=1"
        )
    )
    state.close()

    again = Store(clock=utc_now, emit=lambda _: None, state=StateFile(tmp_path / "sandbox.sqlite"))
    found = again.get_order(order.id)

    assert found.return_url == f"{ORIGIN}/b?booking_id=1"
    assert return_urls(found) == {
        "paid": f"{ORIGIN}/b?booking_id=1&outcome=paid",
        "declined": f"{ORIGIN}/b?booking_id=1&outcome=declined",
    }
    assert "outcome=paid" in checkout_page(found)


SANDBOX_KEY = {"Authorization": "Bearer sandbox-test-key"}
