"""Gateway webhooks as the sandbox signs them, for the tests that play the gateway."""

from __future__ import annotations

import json
import time
from typing import Any

from core.signing import sign_header

from support.auth import SANDBOX_WEBHOOK_SECRET


def signed(
    event: dict[str, Any], *, secret: str = SANDBOX_WEBHOOK_SECRET, at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """A sandbox-style webhook body and its signature header."""
    body = json.dumps(event).encode()
    header = sign_header([secret], int(at if at is not None else time.time()), body)
    return body, {"Sandbox-Signature": header, "Content-Type": "application/json"}


def captured_event(order_id: str, amount: int, event_id: str = "evt_1") -> dict[str, Any]:
    """The sandbox's payment.captured payload."""
    return {
        "id": event_id,
        "type": "payment.captured",
        "created": int(time.time()),
        "data": {
            "order_id": order_id,
            "payment_id": "pay_" + event_id,
            "amount": amount,
            "currency": "INR",
            "status": "captured",
        },
    }
