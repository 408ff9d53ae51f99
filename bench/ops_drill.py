r"""The operators' drill: provoke every alert kind on a running `make dev`, find it, resolve it.

For each kind the drill makes the condition happen as it would in production
(a provider down, a refund refused, a forged capture, a stray payment, a
receiver down, a balance edited by hand, a workflow terminated, a row edited
by hand, a gateway refusing its list), waits for the alert through the ops
API, screenshots the Temporal UI's query for it (when Debian's ``chromium``
is installed), resolves it as an operator would, and times both: provoked to
alert, and the operator's action to resolved. Third parties (Google Calendar,
Stripe's list endpoints, the booking-events receiver) are served by the drill
itself on ``--fakes-port``, each with an on/off switch.

Start the stack with the third parties pointed at the drill, then run it::

    BOOKING_DATA_DIR=.drill BOOKING_MEETING_ALERT_AFTER_SECONDS=15 \
    BOOKING_GOOGLE_ACCESS_TOKEN=drill \
    BOOKING_GOOGLE_API_BASE_URL=http://127.0.0.1:8777/calendar/v3 \
    BOOKING_STRIPE_API_KEY=sk_test_drill BOOKING_STRIPE_WEBHOOK_SECRET=whsec_drill \
    BOOKING_STRIPE_API_BASE=http://127.0.0.1:8777 \
    BOOKING_EVENTS_WEBHOOK_URL=http://127.0.0.1:8777/hook BOOKING_EVENTS_MAX_ATTEMPTS=2 \
    BOOKING_EVENTS_BACKOFF_SECONDS=1 BOOKING_EVENTS_ALLOW_PRIVATE_TARGETS=true \
    BOOKING_RECONCILE_GRACE_SECONDS=0 \
    BOOKING_CREDIT_SPIKE_AMOUNT=500000 make dev
    BOOKING_DATA_DIR=.drill .venv/bin/python -m bench.ops_drill

Results (timings, screenshots, the CLI's metadata of a stuck booking) go to
``bench/results/ops-drill-<time>/``. ``NOTIFICATION_FAILED`` and
``STEP_FAILING`` need the mail sink or PostgreSQL to fail under a running
stack; the tests provoke them (``tests/activities/test_notifications.py``,
``tests/workflows/test_failure_classes.py``).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.signing import sign_header
from stack.processes import ROOT

BIN = Path(sys.executable).parent
Json = dict[str, Any]


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[drill {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def third_parties(switches: dict[str, bool]) -> FastAPI:
    """Google Calendar, Stripe's lists and an events receiver, each failing while switched on."""
    app = FastAPI()
    meet = "https://meet.google.com/drl-test-one"

    @app.post("/calendar/v3/calendars/{calendar}/events")
    async def insert_event(calendar: str, request: Request) -> Any:
        if switches["google_down"]:
            return JSONResponse({"error": {"code": 503, "message": "backend"}}, status_code=503)
        body = await request.json()
        return {"id": body["id"], "status": "confirmed", "hangoutLink": meet}

    @app.get("/calendar/v3/calendars/{calendar}/events/{event_id}")
    async def get_event(calendar: str, event_id: str) -> Any:
        return {"id": event_id, "status": "confirmed", "hangoutLink": meet}

    @app.get("/v1/charges")
    @app.get("/v1/refunds")
    async def stripe_list() -> Any:
        if switches["stripe_down"]:
            error = {"type": "invalid_request_error", "message": "Invalid API Key provided"}
            return JSONResponse({"error": error}, status_code=401)
        return {"object": "list", "data": [], "has_more": False}

    @app.post("/hook")
    async def receive_event() -> Any:
        if switches["hook_down"]:
            return JSONResponse({"detail": "down"}, status_code=500)
        return {"ok": True}

    return app


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

    # ---- tools -------------------------------------------------------------------------------

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

    # ---- the drill ---------------------------------------------------------------------------

    async def setup(self) -> None:
        """A jitsi and a google resource with slots three days ahead; a funded customer."""
        starts = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        for name, provider in (("Drill: Dr. Rao", "jitsi"), ("Drill: Dr. Meet", "google")):
            created = await self.api.post(
                "/v1/resources",
                json={"name": name, "timezone": "Asia/Kolkata", "meeting_provider": provider},
                headers=self.operator,
            )
            created.raise_for_status()
            slots = [
                {
                    "starts_at": (starts + timedelta(hours=i)).isoformat(),
                    "ends_at": (starts + timedelta(hours=i, minutes=30)).isoformat(),
                    "price": {"amount": 50_000, "currency": "INR"},
                    "capacity": 1,
                }
                for i in range(12)
            ]
            made = await self.api.post(
                f"/v1/resources/{created.json()['id']}/slots",
                json={"slots": slots},
                headers=self.operator,
            )
            made.raise_for_status()
            self.slots[provider] = [slot["id"] for slot in made.json()["items"]]
        funded = await self.api.post(
            f"/v1/wallets/{self.customer_id}/credits",
            json={"amount": {"amount": 400_000, "currency": "INR"}, "reason": "drill"},
            headers={**self.operator, "Idempotency-Key": f"drill-fund-{self.customer_id}"},
        )
        funded.raise_for_status()

    async def reconciliation_failed(self) -> None:
        """RECONCILIATION_FAILED: Stripe refuses its list (a wrong key) until it is fixed."""
        t0 = time.monotonic()
        self.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-gateways")
        alert = await self.open_alert("RECONCILIATION_FAILED", "job:gateways")
        t1 = time.monotonic()
        self.switches["stripe_down"] = False
        t2 = time.monotonic()
        self.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-gateways")
        await self.resolved(alert)
        self.record(
            "RECONCILIATION_FAILED", t0, t1, t2, "key fixed, job run again: resolved by the engine"
        )

    async def meeting_link_failing(self) -> None:
        """MEETING_LINK_FAILING: Google Calendar down until it is back."""
        t0 = time.monotonic()
        booking = await self.book("google")
        alert = await self.open_alert("MEETING_LINK_FAILING", booking["id"])
        t1 = time.monotonic()
        self.screenshot("meeting_link_failing", 'BookingAttention="MEETING_LINK_FAILING"')
        metadata = self.run(
            "temporal",
            "workflow",
            "metadata",
            "--workflow-id",
            f"booking-{booking['id']}",
            "--codec-endpoint",
            f"{self.args.api}/codec",
        )
        (self.out / "meeting_link_failing_metadata.txt").write_text(metadata + "\n")
        self.switches["google_down"] = False
        t2 = time.monotonic()
        await self.ops_action(booking["id"], "retry-meeting", "calendar is back")
        await self.until_booking(booking["id"], lambda b: b["meeting"]["status"] == "READY")
        await self.resolved(alert)
        self.record(
            "MEETING_LINK_FAILING", t0, t1, t2, "provider fixed, retry-meeting: engine resolved"
        )

    async def refund_failing(self) -> None:
        """REFUND_FAILING: a cancel while the gateway refuses refunds."""
        booking = await self.book("jitsi", "gateway")
        await self.sandbox.post(
            f"/v1/orders/{booking['payment']['order_id']}/pay", json={"outcome": "success"}
        )
        await self.until_booking(booking["id"], lambda b: b["status"] == "CONFIRMED")
        faults = {"refunds_unavailable": True}
        await self.sandbox.put("/v1/sandbox/faults", json=faults, headers=self.sandbox_key)
        t0 = time.monotonic()
        cancelled = await self.api.post(
            f"/v1/bookings/{booking['id']}/cancel", headers=self.customer
        )
        assert cancelled.status_code == 200, cancelled.text
        log(f"cancel answered in {time.monotonic() - t0:.1f} s: {cancelled.json()['refund']}")
        alert = await self.open_alert("REFUND_FAILING", booking["id"])
        t1 = time.monotonic()
        self.screenshot("refund_failing", 'BookingAttention="REFUND_FAILING"')
        await self.sandbox.put("/v1/sandbox/faults", json={}, headers=self.sandbox_key)
        t2 = time.monotonic()
        await self.ops_action(booking["id"], "retry-pending-steps", "refunds are back")
        await self.until_booking(
            booking["id"], lambda b: bool(b["refunds"]) and b["refunds"][0]["status"] == "PROCESSED"
        )
        await self.resolved(alert)
        self.record(
            "REFUND_FAILING", t0, t1, t2, "gateway fixed, retry-pending-steps: engine resolved"
        )

    async def payment_mismatch(self) -> None:
        """PAYMENT_MISMATCH: a signed capture of the wrong amount."""
        booking = await self.book("jitsi", "gateway")
        t0 = time.monotonic()
        sent = await self.webhook(
            {
                "id": f"evt_{uuid.uuid4().hex[:12]}",
                "type": "payment.captured",
                "created": int(time.time()),
                "data": {
                    "order_id": booking["payment"]["order_id"],
                    "payment_id": f"pay_{uuid.uuid4().hex[:12]}",
                    "amount": 49_999,
                    "currency": "INR",
                    "status": "captured",
                },
            }
        )
        assert sent.is_success, sent.text
        alert = await self.open_alert("PAYMENT_MISMATCH", booking["id"])
        t1 = time.monotonic()
        self.screenshot("payment_mismatch", 'BookingAttention="PAYMENT_MISMATCH"')
        t2 = time.monotonic()
        await self.resolve(alert, "checked with the gateway: a test capture")
        self.record("PAYMENT_MISMATCH", t0, t1, t2, "resolved with a note")

    async def stray_payment(self) -> None:
        """WEBHOOK_UNMATCHED at once; GATEWAY_MISMATCH at the next gateway reconciliation."""
        t0 = time.monotonic()
        order = await self.sandbox.post(
            "/v1/orders",
            json={"amount": 1_000, "currency": "INR", "receipt": f"stray-{uuid.uuid4().hex[:8]}"},
            headers=self.sandbox_key,
        )
        paid = await self.sandbox.post(
            f"/v1/orders/{order.json()['id']}/pay", json={"outcome": "success"}
        )
        alert = await self.open_alert("WEBHOOK_UNMATCHED")
        t1 = time.monotonic()
        t2 = time.monotonic()
        await self.resolve(alert, "a stray test order; refunded at the gateway")
        self.record("WEBHOOK_UNMATCHED", t0, t1, t2, "resolved with a note")

        payment = paid.json()["id"]
        t0 = time.monotonic()
        self.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-gateways")
        alert = await self.open_alert("GATEWAY_MISMATCH", f"sandbox:capture:{payment}")
        t1 = time.monotonic()
        t2 = time.monotonic()
        refunded = await self.sandbox.post(
            "/v1/refunds",
            json={"payment_id": payment, "amount": 1_000, "reason": "stray"},
            headers={**self.sandbox_key, "Idempotency-Key": f"stray-{payment}"},
        )
        log(f"stray payment refunded at the sandbox: {refunded.status_code}")
        await self.resolve(alert, "stray payment refunded at the gateway")
        self.record("GATEWAY_MISMATCH", t0, t1, t2, "refunded at the gateway, resolved with a note")

    async def webhook_unparseable(self) -> None:
        """WEBHOOK_UNPARSEABLE: a signed event of no shape the engine knows."""
        t0 = time.monotonic()
        sent = await self.webhook(
            {
                "id": f"evt_{uuid.uuid4().hex[:12]}",
                "type": "payment.captured",
                "created": int(time.time()),
                "data": {"unexpected": True},
            }
        )
        log(f"an unparseable event answered {sent.status_code}")
        alert = await self.open_alert("WEBHOOK_UNPARSEABLE")
        t1 = time.monotonic()
        t2 = time.monotonic()
        await self.resolve(alert, "a malformed test event")
        self.record("WEBHOOK_UNPARSEABLE", t0, t1, t2, "resolved with a note")

    async def event_delivery_failed(self) -> None:
        """EVENT_DELIVERY_FAILED: the host application's receiver down."""
        self.switches["hook_down"] = True
        t0 = time.monotonic()
        booking = await self.book("jitsi")

        async def failed_event() -> str | None:
            failed = await self.api.get(
                "/v1/ops/outgoing-events",
                params={"status": "FAILED", "booking_id": booking["id"]},
                headers=self.operator,
            )
            items = failed.json()["items"]
            return f"event:{items[-1]['id']}" if items else None

        await self.open_alert(
            "EVENT_DELIVERY_FAILED", await self.until("a FAILED event", failed_event, 120)
        )
        t1 = time.monotonic()
        self.switches["hook_down"] = False
        t2 = time.monotonic()
        failed = await self.api.get(
            "/v1/ops/outgoing-events",
            params={"status": "FAILED", "limit": "200"},
            headers=self.operator,
        )
        events = failed.json()["items"]
        for event in events:
            again = await self.api.post(
                f"/v1/ops/outgoing-events/{event['id']}/redeliver", headers=self.operator
            )
            assert again.status_code == 200, again.text

        async def delivered() -> bool:
            out = await self.api.get(
                "/v1/ops/outgoing-events",
                params={"status": "DELIVERED", "limit": "200"},
                headers=self.operator,
            )
            done = {event["id"] for event in out.json()["items"]}
            return all(event["id"] in done for event in events)

        await self.until("redelivery", delivered, 120)
        alerts = await self.alerts(status="open", kind="EVENT_DELIVERY_FAILED")
        for alert in alerts:
            await self.resolve(alert, "receiver is back; redelivered")
        self.record(
            "EVENT_DELIVERY_FAILED",
            t0,
            t1,
            t2,
            f"receiver fixed, {len(events)} events redelivered, {len(alerts)} alerts resolved",
        )

    async def ledger(self, pg: asyncpg.Connection) -> None:
        """BALANCE_MISMATCH (a balance edited by hand) and CREDIT_SPIKE, from reconcile-ledger."""
        customer = self.customer_id
        await pg.execute(
            "UPDATE wallets SET balance = balance + 7 WHERE customer_id = $1", customer
        )
        spike = await self.api.post(
            f"/v1/wallets/{customer}/credits",
            json={"amount": {"amount": 600_000, "currency": "INR"}, "reason": "drill spike"},
            headers={**self.operator, "Idempotency-Key": f"drill-spike-{customer}"},
        )
        spike.raise_for_status()
        t0 = time.monotonic()
        self.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-ledger")
        mismatch = await self.open_alert("BALANCE_MISMATCH", f"wallet:{customer}:INR")
        t1 = time.monotonic()
        spiked = await self.open_alert("CREDIT_SPIKE")
        t1_spike = time.monotonic()
        t2 = time.monotonic()
        await pg.execute(
            "UPDATE wallets SET balance = balance - 7 WHERE customer_id = $1", customer
        )
        await self.resolve(mismatch, "a balance edited by hand, put back")
        self.record("BALANCE_MISMATCH", t0, t1, t2, "edit reverted, resolved with a note")
        t2 = time.monotonic()
        await self.resolve(spiked, "a known large credit")
        self.record("CREDIT_SPIKE", t0, t1_spike, t2, "resolved with a note")

    async def workflows(self, pg: asyncpg.Connection) -> None:
        """WORKFLOW_MISSING (terminated by hand) and STATUS_MISMATCH, from reconcile-workflows."""
        gone = await self.book("jitsi")
        await self.until_booking(gone["id"], lambda b: b["meeting"]["status"] == "READY")
        self.run(
            "temporal",
            "workflow",
            "terminate",
            "--workflow-id",
            f"booking-{gone['id']}",
            "--reason",
            "drill",
        )
        odd = await self.book("jitsi", "gateway")
        odd_id = uuid.UUID(odd["id"])
        await pg.execute("UPDATE bookings SET status = 'HELD' WHERE id = $1", odd_id)
        t0 = time.monotonic()
        self.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-workflows")
        missing = await self.open_alert("WORKFLOW_MISSING", gone["id"])
        t1 = time.monotonic()
        differs = await self.open_alert("STATUS_MISMATCH", odd["id"])
        t1_differs = time.monotonic()
        self.screenshot("status_mismatch", 'BookingAttention="STATUS_MISMATCH"')
        t2 = time.monotonic()
        await self.resolve(missing, "terminated by hand in a drill; customer told")
        self.record("WORKFLOW_MISSING", t0, t1, t2, "resolved with a note")
        t2 = time.monotonic()
        await pg.execute("UPDATE bookings SET status = 'AWAITING_PAYMENT' WHERE id = $1", odd_id)
        await self.resolve(differs, "a row edited by hand, put back")
        self.record("STATUS_MISMATCH", t0, t1_differs, t2, "edit reverted, resolved with a note")


async def main() -> None:
    """Run the drill against the stack at ``--api``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8090")
    parser.add_argument("--ui", default="http://127.0.0.1:8233")
    parser.add_argument("--fakes-port", type=int, default=8777)
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / f"ops-drill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True)
    drill = Drill(args, out)
    fakes = uvicorn.Server(
        uvicorn.Config(
            third_parties(drill.switches),
            host="127.0.0.1",
            port=args.fakes_port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(fakes.serve())
    await drill.until("the third parties", lambda: asyncio.sleep(0, fakes.started), 10)
    pg = await asyncpg.connect(host=str(drill.data / "pg"), user="postgres", database="booking")
    try:
        await drill.setup()
        await drill.reconciliation_failed()
        await drill.meeting_link_failing()
        await drill.refund_failing()
        await drill.payment_mismatch()
        await drill.stray_payment()
        await drill.webhook_unparseable()
        await drill.event_delivery_failed()
        await drill.ledger(pg)
        await drill.workflows(pg)
        drill.screenshot("attention_any", "BookingAttention IS NOT NULL")
        await drill.drain()
    finally:
        await pg.close()
        fakes.should_exit = True
        await serving
    left = [(a["kind"], a["subject"]) for a in await drill.alerts(status="open")]
    (out / "timings.json").write_text(
        json.dumps({"timings": drill.timings, "open": left}, indent=1)
    )
    print(json.dumps(drill.timings, indent=1))
    print(f"open alerts left: {left}")
    log(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
