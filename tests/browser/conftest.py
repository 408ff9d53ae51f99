"""One dev stack, one host application on another origin and one chromium for the page tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from stack.embedded import free_port

from support.auth import JWT_SECRET, OPERATOR
from support.browser import CHROMIUM, Host, artifacts, serving
from support.devstack import DevStack, dev_stack

if not CHROMIUM.exists():
    pytest.skip(
        f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
        allow_module_level=True,
    )

from playwright.async_api import Browser, Page, async_playwright


@pytest.fixture(scope="package")
def host_port() -> int:
    """The host application's port, known before the stack starts (it is a CORS origin)."""
    return free_port()


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, host_port: int) -> Iterator[DevStack]:
    """``booking-engine dev`` allowing the host's origin, with the tests' JWT secret."""
    origins = json.dumps([f"http://127.0.0.1:{host_port}"])
    workdir = tmp_path_factory.mktemp("browser")
    with dev_stack(workdir, cors_origins=origins, jwt_secret=JWT_SECRET) as running:
        yield running


@pytest.fixture(scope="package")
def api_url(stack: DevStack) -> str:
    """The API's origin."""
    return f"http://127.0.0.1:{stack.api_port}"


@pytest.fixture(scope="package")
async def api(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the API, for setting up and checking what the page did."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def host(api_url: str, host_port: int) -> Iterator[Host]:
    """The host application on another origin, embedding the page from the API's origin."""
    host = Host(api_url)
    host.port = host_port
    host.origin = f"http://127.0.0.1:{host_port}"
    with serving(host) as running:
        yield running


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page in a customer's browser in Berlin (not the resource's zone)."""
    context = await browser.new_context(
        timezone_id="Europe/Berlin", locale="en-GB", viewport={"width": 900, "height": 900}
    )
    page = await context.new_page()
    yield page
    await context.close()


class Shots:
    """Numbered screenshots of one test, under the artifacts folder."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.folder = artifacts()
        self.name = name
        self.count = 0

    async def __call__(self, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.name}-{self.count}-{step}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(page: Page, request: pytest.FixtureRequest) -> Shots:
    """``shot("step")`` saves a screenshot of the page as a test artifact."""
    return Shots(page, request.node.name.removeprefix("test_"))


@pytest.fixture
async def resource(api: httpx.AsyncClient) -> dict[str, Any]:
    """A slot resource in Kolkata with three slots tomorrow (its own, so tests do not meet)."""
    created = await api.post(
        "/v1/resources",
        json={"name": f"Dr. Rao {uuid.uuid4().hex[:4]}", "timezone": "Asia/Kolkata"},
        headers=OPERATOR,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    slots = [
        {
            "starts_at": (start + timedelta(hours=hour)).isoformat(),
            "ends_at": (start + timedelta(hours=hour, minutes=30)).isoformat(),
            "price": {"amount": 50000, "currency": "INR"},
        }
        for hour in range(3)
    ]
    made = await api.post(
        f"/v1/resources/{body['id']}/slots", json={"slots": slots}, headers=OPERATOR
    )
    assert made.status_code == 201, made.text
    body["slots"] = made.json()["items"]
    return body
