"""The drill's steps: set up, then provoke each alert kind, wait for it, resolve it, time both.

Each step makes its condition happen as it would in production and resolves
the alert as an operator would; ``bench/ops_drill.py`` runs them in order.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.drill.console import Drill, log


async def setup(drill: Drill) -> None:
    """A jitsi and a google resource with slots three days ahead; a funded customer."""
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    for name, provider in (("Drill: Dr. Rao", "jitsi"), ("Drill: Dr. Meet", "google")):
        created = await drill.api.post(
            "/v1/resources",
            json={"name": name, "timezone": "Asia/Kolkata", "meeting_provider": provider},
            headers=drill.operator,
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
        made = await drill.api.post(
            f"/v1/resources/{created.json()['id']}/slots",
            json={"slots": slots},
            headers=drill.operator,
        )
        made.raise_for_status()
        drill.slots[provider] = [slot["id"] for slot in made.json()["items"]]
    funded = await drill.api.post(
        f"/v1/wallets/{drill.customer_id}/credits",
        json={"amount": {"amount": 400_000, "currency": "INR"}, "reason": "drill"},
        headers={**drill.operator, "Idempotency-Key": f"drill-fund-{drill.customer_id}"},
    )
    funded.raise_for_status()


async def reconciliation_failed(drill: Drill) -> None:
    """RECONCILIATION_FAILED: Stripe refuses its list (a wrong key) until it is fixed."""
    t0 = time.monotonic()
    drill.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-gateways")
    alert = await drill.open_alert("RECONCILIATION_FAILED", "job:gateways")
    t1 = time.monotonic()
    drill.switches["stripe_down"] = False
    t2 = time.monotonic()
    drill.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-gateways")
    await drill.resolved(alert)
    drill.record(
        "RECONCILIATION_FAILED", t0, t1, t2, "key fixed, job run again: resolved by the engine"
    )


async def meeting_link_failing(drill: Drill) -> None:
    """MEETING_LINK_FAILING: Google Calendar down until it is back."""
    t0 = time.monotonic()
    booking = await drill.book("google")
    alert = await drill.open_alert("MEETING_LINK_FAILING", booking["id"])
    t1 = time.monotonic()
    drill.screenshot("meeting_link_failing", 'BookingAttention="MEETING_LINK_FAILING"')
    metadata = drill.run(
        "temporal",
        "workflow",
        "metadata",
        "--workflow-id",
        f"booking-{booking['id']}",
        "--codec-endpoint",
        f"{drill.args.api}/codec",
    )
    (drill.out / "meeting_link_failing_metadata.txt").write_text(metadata + "\n")
    drill.switches["google_down"] = False
    t2 = time.monotonic()
    await drill.ops_action(booking["id"], "retry-meeting", "calendar is back")
    await drill.until_booking(booking["id"], lambda b: b["meeting"]["status"] == "READY")
    await drill.resolved(alert)
    drill.record(
        "MEETING_LINK_FAILING", t0, t1, t2, "provider fixed, retry-meeting: engine resolved"
    )


async def refund_failing(drill: Drill) -> None:
    """REFUND_FAILING: a cancel while the gateway refuses refunds."""
    booking = await drill.book("jitsi", "gateway")
    await drill.sandbox.post(
        f"/v1/orders/{booking['payment']['order_id']}/pay", json={"outcome": "success"}
    )
    await drill.until_booking(booking["id"], lambda b: b["status"] == "CONFIRMED")
    faults = {"refunds_unavailable": True}
    await drill.sandbox.put("/v1/sandbox/faults", json=faults, headers=drill.sandbox_key)
    t0 = time.monotonic()
    cancelled = await drill.api.post(f"/v1/bookings/{booking['id']}/cancel", headers=drill.customer)
    assert cancelled.status_code == 200, cancelled.text
    log(f"cancel answered in {time.monotonic() - t0:.1f} s: {cancelled.json()['refund']}")
    alert = await drill.open_alert("REFUND_FAILING", booking["id"])
    t1 = time.monotonic()
    drill.screenshot("refund_failing", 'BookingAttention="REFUND_FAILING"')
    await drill.sandbox.put("/v1/sandbox/faults", json={}, headers=drill.sandbox_key)
    t2 = time.monotonic()
    await drill.ops_action(booking["id"], "retry-pending-steps", "refunds are back")
    await drill.until_booking(
        booking["id"], lambda b: bool(b["refunds"]) and b["refunds"][0]["status"] == "PROCESSED"
    )
    await drill.resolved(alert)
    drill.record(
        "REFUND_FAILING", t0, t1, t2, "gateway fixed, retry-pending-steps: engine resolved"
    )


async def payment_mismatch(drill: Drill) -> None:
    """PAYMENT_MISMATCH: a signed capture of the wrong amount."""
    booking = await drill.book("jitsi", "gateway")
    t0 = time.monotonic()
    sent = await drill.webhook(
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
    alert = await drill.open_alert("PAYMENT_MISMATCH", booking["id"])
    t1 = time.monotonic()
    drill.screenshot("payment_mismatch", 'BookingAttention="PAYMENT_MISMATCH"')
    t2 = time.monotonic()
    await drill.resolve(alert, "checked with the gateway: a test capture")
    drill.record("PAYMENT_MISMATCH", t0, t1, t2, "resolved with a note")


async def stray_payment(drill: Drill) -> None:
    """WEBHOOK_UNMATCHED at once; GATEWAY_MISMATCH at the next gateway reconciliation."""
    t0 = time.monotonic()
    order = await drill.sandbox.post(
        "/v1/orders",
        json={"amount": 1_000, "currency": "INR", "receipt": f"stray-{uuid.uuid4().hex[:8]}"},
        headers=drill.sandbox_key,
    )
    paid = await drill.sandbox.post(
        f"/v1/orders/{order.json()['id']}/pay", json={"outcome": "success"}
    )
    alert = await drill.open_alert("WEBHOOK_UNMATCHED")
    t1 = time.monotonic()
    t2 = time.monotonic()
    await drill.resolve(alert, "a stray test order; refunded at the gateway")
    drill.record("WEBHOOK_UNMATCHED", t0, t1, t2, "resolved with a note")

    payment = paid.json()["id"]
    t0 = time.monotonic()
    drill.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-gateways")
    alert = await drill.open_alert("GATEWAY_MISMATCH", f"sandbox:capture:{payment}")
    t1 = time.monotonic()
    t2 = time.monotonic()
    refunded = await drill.sandbox.post(
        "/v1/refunds",
        json={"payment_id": payment, "amount": 1_000, "reason": "stray"},
        headers={**drill.sandbox_key, "Idempotency-Key": f"stray-{payment}"},
    )
    log(f"stray payment refunded at the sandbox: {refunded.status_code}")
    await drill.resolve(alert, "stray payment refunded at the gateway")
    drill.record("GATEWAY_MISMATCH", t0, t1, t2, "refunded at the gateway, resolved with a note")


async def webhook_unparseable(drill: Drill) -> None:
    """WEBHOOK_UNPARSEABLE: a signed event of no shape the engine knows."""
    t0 = time.monotonic()
    sent = await drill.webhook(
        {
            "id": f"evt_{uuid.uuid4().hex[:12]}",
            "type": "payment.captured",
            "created": int(time.time()),
            "data": {"unexpected": True},
        }
    )
    log(f"an unparseable event answered {sent.status_code}")
    alert = await drill.open_alert("WEBHOOK_UNPARSEABLE")
    t1 = time.monotonic()
    t2 = time.monotonic()
    await drill.resolve(alert, "a malformed test event")
    drill.record("WEBHOOK_UNPARSEABLE", t0, t1, t2, "resolved with a note")


async def event_delivery_failed(drill: Drill) -> None:
    """EVENT_DELIVERY_FAILED: the host application's receiver down."""
    drill.switches["hook_down"] = True
    t0 = time.monotonic()
    booking = await drill.book("jitsi")

    async def failed_event() -> str | None:
        failed = await drill.api.get(
            "/v1/ops/outgoing-events",
            params={"status": "FAILED", "booking_id": booking["id"]},
            headers=drill.operator,
        )
        items = failed.json()["items"]
        return f"event:{items[-1]['id']}" if items else None

    await drill.open_alert(
        "EVENT_DELIVERY_FAILED", await drill.until("a FAILED event", failed_event, 120)
    )
    t1 = time.monotonic()
    drill.switches["hook_down"] = False
    t2 = time.monotonic()
    failed = await drill.api.get(
        "/v1/ops/outgoing-events",
        params={"status": "FAILED", "limit": "200"},
        headers=drill.operator,
    )
    events = failed.json()["items"]
    for event in events:
        again = await drill.api.post(
            f"/v1/ops/outgoing-events/{event['id']}/redeliver", headers=drill.operator
        )
        assert again.status_code == 200, again.text

    async def delivered() -> bool:
        out = await drill.api.get(
            "/v1/ops/outgoing-events",
            params={"status": "DELIVERED", "limit": "200"},
            headers=drill.operator,
        )
        done = {event["id"] for event in out.json()["items"]}
        return all(event["id"] in done for event in events)

    await drill.until("redelivery", delivered, 120)
    alerts = await drill.alerts(status="open", kind="EVENT_DELIVERY_FAILED")
    for alert in alerts:
        await drill.resolve(alert, "receiver is back; redelivered")
    drill.record(
        "EVENT_DELIVERY_FAILED",
        t0,
        t1,
        t2,
        f"receiver fixed, {len(events)} events redelivered, {len(alerts)} alerts resolved",
    )


async def ledger(drill: Drill, pg: asyncpg.Connection) -> None:
    """BALANCE_MISMATCH (a balance edited by hand) and CREDIT_SPIKE, from reconcile-ledger."""
    customer = drill.customer_id
    await pg.execute("UPDATE wallets SET balance = balance + 7 WHERE customer_id = $1", customer)
    spike = await drill.api.post(
        f"/v1/wallets/{customer}/credits",
        json={"amount": {"amount": 600_000, "currency": "INR"}, "reason": "drill spike"},
        headers={**drill.operator, "Idempotency-Key": f"drill-spike-{customer}"},
    )
    spike.raise_for_status()
    t0 = time.monotonic()
    drill.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-ledger")
    mismatch = await drill.open_alert("BALANCE_MISMATCH", f"wallet:{customer}:INR")
    t1 = time.monotonic()
    spiked = await drill.open_alert("CREDIT_SPIKE")
    t1_spike = time.monotonic()
    t2 = time.monotonic()
    await pg.execute("UPDATE wallets SET balance = balance - 7 WHERE customer_id = $1", customer)
    await drill.resolve(mismatch, "a balance edited by hand, put back")
    drill.record("BALANCE_MISMATCH", t0, t1, t2, "edit reverted, resolved with a note")
    t2 = time.monotonic()
    await drill.resolve(spiked, "a known large credit")
    drill.record("CREDIT_SPIKE", t0, t1_spike, t2, "resolved with a note")


async def workflows(drill: Drill, pg: asyncpg.Connection) -> None:
    """WORKFLOW_MISSING (terminated by hand) and STATUS_MISMATCH, from reconcile-workflows."""
    gone = await drill.book("jitsi")
    await drill.until_booking(gone["id"], lambda b: b["meeting"]["status"] == "READY")
    drill.run(
        "temporal",
        "workflow",
        "terminate",
        "--workflow-id",
        f"booking-{gone['id']}",
        "--reason",
        "drill",
    )
    odd = await drill.book("jitsi", "gateway")
    odd_id = uuid.UUID(odd["id"])
    await pg.execute("UPDATE bookings SET status = 'HELD' WHERE id = $1", odd_id)
    t0 = time.monotonic()
    drill.run("temporal", "schedule", "trigger", "--schedule-id", "reconcile-workflows")
    missing = await drill.open_alert("WORKFLOW_MISSING", gone["id"])
    t1 = time.monotonic()
    differs = await drill.open_alert("STATUS_MISMATCH", odd["id"])
    t1_differs = time.monotonic()
    drill.screenshot("status_mismatch", 'BookingAttention="STATUS_MISMATCH"')
    t2 = time.monotonic()
    await drill.resolve(missing, "terminated by hand in a drill; customer told")
    drill.record("WORKFLOW_MISSING", t0, t1, t2, "resolved with a note")
    t2 = time.monotonic()
    await pg.execute("UPDATE bookings SET status = 'AWAITING_PAYMENT' WHERE id = $1", odd_id)
    await drill.resolve(differs, "a row edited by hand, put back")
    drill.record("STATUS_MISMATCH", t0, t1_differs, t2, "edit reverted, resolved with a note")
