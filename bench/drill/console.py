"""The drill's operator console: tokens, the ops API, waits, the project's CLIs, screenshots.

The steps (``bench.drill.steps``) provoke each alert kind with these and time
what the operator sees.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from core.signing import sign_header
from stack.processes import ROOT

BIN = Path(sys.executable).parent
Json = dict[str, Any]


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Drill:
    """One drill against a running stack."""

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args = args
        self.out = out
        self.data = Path(os.environ.get("BOOKING_DATA_DIR", ROOT / ".data")).resolve()
        self.switches = {"google_down": True, "stripe_down": True, "hook_down": False}
        self.timings: dict[str, Json] = {}
        self.api = httpx.AsyncClient(base_url=args.api, timeout=60)
        self.sandbox = httpx.AsyncClient(base_url=args.sandbox, timeout=30)
        self.operator = {"Authorization": f"Bearer {self.token('operator', uuid.uuid4())}"}
        self.customer_id = uuid.uuid4()
        self.customer = {"Authorization": f"Bearer {self.token('customer', self.customer_id)}"}
        key = (self.data / "sandbox_api_key").read_text().strip()
        self.sandbox_key = {"Authorization": f"Bearer {key}"}
        self.webhook_secret = (self.data / "sandbox_webhook_secret").read_text().strip()
        self.slots: dict[str, list[str]] = {}

    def run(self, *command: str) -> str:
        """A project CLI (``booking-engine``, ``temporal``) with the drill's environment."""
        done = subprocess.run(  # noqa: S603 - the project's own CLIs, fixed arguments
            [str(BIN / command[0]), *command[1:]],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def token(self, role: str, sub: uuid.UUID) -> str:
        """A bearer token from the data directory's secret."""
        return self.run("booking-engine", "token", "--role", role, "--sub", str(sub))

    def screenshot(self, name: str, query: str) -> None:
        """The Temporal UI's workflow list for ``query``, as an operator would type it."""
        browser = shutil.which("chromium")
        if browser is None:
            return
        url = f"{self.args.ui}/namespaces/default/workflows?query={quote(query)}"
        subprocess.run(  # noqa: S603 - the system's browser, fixed arguments
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1500,900",
                "--virtual-time-budget=8000",
                f"--screenshot={self.out / f'{name}.png'}",
                url,
            ],
            capture_output=True,
            timeout=90,
            check=False,
        )

    async def alerts(self, **params: str) -> list[Json]:
        """The ops API's alerts list."""
        response = await self.api.get(
            "/v1/ops/alerts", params={"limit": "200", **params}, headers=self.operator
        )
        response.raise_for_status()
        items: list[Json] = response.json()["items"]
        return items

    async def until(self, what: str, probe: Callable[[], Awaitable[Any]], seconds: float) -> Any:
        """Poll ``probe`` until it returns something true."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = await probe()
            if found:
                return found
            await asyncio.sleep(0.5)
        raise TimeoutError(f"no {what} after {seconds} s")

    async def open_alert(self, kind: str, subject: str | None = None) -> Json:
        """Wait for an open alert of ``kind`` (about ``subject``)."""

        async def probe() -> Json | None:
            for alert in await self.alerts(status="open", kind=kind):
                if subject is None or alert["subject"] == subject:
                    return alert
            return None

        alert: Json = await self.until(f"open {kind} alert", probe, 180)
        return alert

    async def resolved(self, alert: Json) -> None:
        """Wait until ``alert`` is resolved."""

        async def probe() -> bool:
            return any(a["id"] == alert["id"] for a in await self.alerts(status="resolved"))

        await self.until(f"resolution of {alert['kind']}", probe, 180)

    async def resolve(self, alert: Json, note: str) -> None:
        """Resolve ``alert`` as the operator, with a note."""
        response = await self.api.post(
            f"/v1/ops/alerts/{alert['id']}/resolve", json={"note": note}, headers=self.operator
        )
        assert response.status_code == 200, response.text

    async def booking(self, booking_id: str) -> Json:
        """The booking as an operator reads it."""
        response = await self.api.get(f"/v1/bookings/{booking_id}", headers=self.operator)
        response.raise_for_status()
        found: Json = response.json()
        return found

    async def until_booking(self, booking_id: str, test: Callable[[Json], bool]) -> Json:
        """Wait until the booking passes ``test``."""

        async def probe() -> Json | None:
            found = await self.booking(booking_id)
            return found if test(found) else None

        found: Json = await self.until(f"booking {booking_id} state", probe, 120)
        return found

    async def book(self, provider: str, method: str = "wallet") -> Json:
        """Book the next slot of the ``provider`` resource as the customer."""
        payment = (
            {"method": "wallet"}
            if method == "wallet"
            else {"method": "gateway", "provider": "sandbox"}
        )
        response = await self.api.post(
            "/v1/bookings",
            json={"slot_id": self.slots[provider].pop(), "payment": payment},
            headers={**self.customer, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.text
        booking: Json = response.json()
        return booking

    async def ops_action(self, booking_id: str, action: str, note: str) -> None:
        """``POST /v1/ops/bookings/{id}/{action}`` as the operator; it must be accepted (202)."""
        answer = await self.api.post(
            f"/v1/ops/bookings/{booking_id}/{action}", json={"note": note}, headers=self.operator
        )
        assert answer.status_code == 202, answer.text

    async def webhook(self, event: Json) -> httpx.Response:
        """Send ``event`` to the engine signed as the sandbox signs it."""
        body = json.dumps(event).encode()
        signature = sign_header([self.webhook_secret], int(time.time()), body)
        return await self.api.post(
            "/v1/webhooks/sandbox",
            content=body,
            headers={"Sandbox-Signature": signature, "Content-Type": "application/json"},
        )

    def record(self, kind: str, provoked: float, alerted: float, acted: float, how: str) -> None:
        """Keep the times of one kind: provoked to alert, operator's action to resolved."""
        done = time.monotonic()
        self.timings[kind] = {
            "provoked_to_alert_s": round(alerted - provoked, 1),
            "action_to_resolved_s": round(done - acted, 1),
            "resolved_by": how,
        }
        log(f"{kind}: {self.timings[kind]}")

    async def drain(self) -> None:
        """Wait until the booking events are out, while their receiver still answers."""

        async def drained() -> bool:
            pending = await self.api.get(
                "/v1/ops/outgoing-events", params={"status": "PENDING"}, headers=self.operator
            )
            return not pending.json()["items"]

        await self.until("delivered events", drained, 120)
