"""A request example on every operation that takes a body, each one the live API accepts.

Swagger UI and ReDoc show these instead of a body pieced together from the
fields' own examples (which may mix a slot move with a range move). They tell
one story: the resource ``RESOURCE_ID_EXAMPLE`` (a slot resource, or a car
rented by the day), its slot ``SLOT_ID_EXAMPLE`` on 2026-12-04 at 07:00 UTC,
a booking of it, moved, refunded, cancelled; a wallet credited and topped up.
The test suite sends each one to the API (``tests/api/test_openapi_examples.py``).
"""

from __future__ import annotations

from typing import Any

_RETURN_URL = "https://shop.example.com/booked?lang=en"
# The slot a booking moves to (the one it leaves is ``SLOT_ID_EXAMPLE``).
OTHER_SLOT_ID_EXAMPLE = "7e6d5c4b-3a29-4817-8f6e-5d4c3b2a1f0e"
ALL_WEEK = [
    {"day": day, "start": "00:00", "end": "24:00"}
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]


def _example(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


_NOTE = {"note": "the provider is back"}
_CANCEL = {
    "with_reason": _example(
        "With a reason (operators should give one)", {"reason": "customer asked by phone"}
    )
}
_MOVE = {
    "slot": _example("To another slot of the same resource", {"slot_id": OTHER_SLOT_ID_EXAMPLE}),
    "range": _example(
        "A range booking to the same days a week later",
        {"starts_at": "2026-12-11T07:00:00Z", "ends_at": "2026-12-14T07:00:00Z"},
    ),
}

# "METHOD path" -> named examples of its JSON body.
REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "POST /v1/resources": {
        "slots": _example(
            "A resource booked by slot, with a Jitsi link and the default refund policy",
            {
                "name": "Dr. Rao",
                "timezone": "Asia/Kolkata",
                "meeting_provider": "jitsi",
                "refund_policy": {"full_refund_hours_before": 24, "late_refund_percent": 50},
            },
        ),
        "range": _example(
            "A car rented by the day, any time of the week",
            {
                "name": "Car KA-01-1234",
                "timezone": "Asia/Kolkata",
                "booking_mode": "range",
                "rate": {"per": "day", "price": {"amount": 250000, "currency": "INR"}},
                "min_duration_minutes": 1440,
                "max_duration_minutes": 20160,
                "buffer_minutes": 120,
                "availability": {"weekly": ALL_WEEK},
            },
        ),
    },
    "PATCH /v1/resources/{resource_id}": {
        "rename": _example(
            "A new name and a stricter refund policy (fields left out stay as they are)",
            {
                "name": "Dr. Rao (Koramangala)",
                "refund_policy": {"full_refund_hours_before": 48, "late_refund_percent": 25},
            },
        ),
    },
    "POST /v1/resources/{resource_id}/slots": {
        "two": _example(
            "Two half-hour slots, one seat each",
            {
                "slots": [
                    {
                        "starts_at": "2026-12-04T07:00:00Z",
                        "ends_at": "2026-12-04T07:30:00Z",
                        "price": {"amount": 50000, "currency": "INR"},
                        "capacity": 1,
                    },
                    {
                        "starts_at": "2026-12-04T07:30:00Z",
                        "ends_at": "2026-12-04T08:00:00Z",
                        "price": {"amount": 50000, "currency": "INR"},
                        "capacity": 1,
                    },
                ]
            },
        ),
    },
    "POST /v1/bookings/{booking_id}/cancel": _CANCEL,
    "POST /v1/manage/{token}/cancel": _CANCEL,
    "POST /v1/bookings/{booking_id}/reschedule": _MOVE,
    "POST /v1/manage/{token}/reschedule": _MOVE,
    "POST /v1/wallets/me/topups": {
        "sandbox": _example(
            "1,000.00 INR through the sandbox checkout, then back to the shop",
            {
                "amount": {"amount": 100000, "currency": "INR"},
                "provider": "sandbox",
                "return_url": _RETURN_URL,
            },
        ),
    },
    "POST /v1/wallets/{customer_id}/credits": {
        "welcome": _example(
            "A welcome credit of 2,000.00 INR",
            {"amount": {"amount": 200000, "currency": "INR"}, "reason": "welcome credit"},
        ),
    },
    "POST /v1/ops/alerts/{alert_id}/resolve": {
        "note": _example("What was done", {"note": "refunded by bank transfer"}),
    },
    "POST /v1/ops/bookings/{booking_id}/retry-meeting": {
        "note": _example("Why, for the audit log", _NOTE),
    },
    "POST /v1/ops/bookings/{booking_id}/retry-pending-steps": {
        "note": _example("Why, for the audit log", _NOTE),
    },
    "POST /v1/ops/bookings/{booking_id}/recover": {
        "note": _example(
            "Why the booking is finished by hand",
            {"note": "workflow terminated by mistake in the Temporal UI"},
        ),
    },
    "POST /v1/ops/bookings/{booking_id}/refund": {
        "partial": _example(
            "Half of a 500.00 INR booking back",
            {"amount": {"amount": 25000, "currency": "INR"}, "reason": "goodwill: late start"},
        ),
        "all": _example("All that is left", {"reason": "clinic closed for repairs"}),
    },
    "POST /v1/ops/bookings/{booking_id}/resend-notification": {
        "confirmation": _example(
            "The confirmation again",
            {"kind": "booking_confirmed", "note": "customer lost the mail"},
        ),
    },
    "POST /v1/ops/topups/{topup_id}/refund": {
        "reason": _example("Why, for the audit log", {"reason": "customer asked"}),
    },
}


def add_request_examples(schema: dict[str, Any]) -> None:
    """Put each operation's named request examples on its JSON body."""
    for key, examples in REQUEST_EXAMPLES.items():
        method, path = key.split(" ", 1)
        body = schema["paths"][path][method.lower()]["requestBody"]
        body["content"]["application/json"]["examples"] = examples
