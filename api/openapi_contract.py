"""What a generated client needs from the document besides the error envelope.

- readable, unique operation ids (``createBooking``), from the route's name;
- bearer security only where a route needs (or, on the public catalog, takes)
  a token;
- request and response examples that agree with each other and that the live
  API accepts: a wallet booking, a gateway booking with a return URL, a range
  booking; the answers a CONFIRMED wallet booking and an AWAITING_PAYMENT
  gateway booking;
- the 405 answer for a method a path does not serve, with its ``Allow`` header.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from api.schemas.common import (
    BOOKING_ID_EXAMPLE,
    CHECKOUT_URL_EXAMPLE,
    CUSTOMER_ID_EXAMPLE,
    ORDER_ID_EXAMPLE,
    RESOURCE_ID_EXAMPLE,
    SLOT_ID_EXAMPLE,
)

# Route names that do not read as an operation on their own.
_RENAMED = {
    "availability": "getAvailability",
    "credit": "creditWallet",
    "my_wallet": "getMyWallet",
    "my_ledger": "listMyLedger",
    "webhook": "receiveWebhook",
    "webhook_events": "listWebhookEvents",
    "outgoing_events": "listOutgoingEvents",
    "decode": "decodePayloads",
    "encode": "encodePayloads",
    "healthz": "getHealth",
    "readyz": "getReadiness",
    "metrics": "getMetrics",
    "customer_wallet": "getCustomerWallet",
    "customer_ledger": "listCustomerLedger",
}


def operation_id(route: APIRoute) -> str:
    """``create_booking`` -> ``createBooking`` (a few names read better renamed)."""
    if route.name in _RENAMED:
        return _RENAMED[route.name]
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def check_unique(schema: dict[str, Any]) -> None:
    """Refuse to serve a document where two operations share an id.

    Raises:
        ValueError: The id used twice.
    """
    seen: set[str] = set()
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            op_id = operation.get("operationId")
            if op_id in seen:
                raise ValueError(f"operationId {op_id!r} is used twice")
            seen.add(op_id)


_MONEY = {"amount": 50000, "currency": "INR"}
_NONE = {"amount": 0, "currency": "INR"}
_RETURN_URL = "https://shop.example.com/booked?lang=en"

BOOKING_REQUESTS: dict[str, Any] = {
    "wallet": {
        "summary": "A slot, paid from the wallet",
        "value": {"slot_id": SLOT_ID_EXAMPLE, "payment": {"method": "wallet"}},
    },
    "gateway": {
        "summary": "A slot, paid at the sandbox checkout, then back to the shop",
        "value": {
            "slot_id": SLOT_ID_EXAMPLE,
            "payment": {"method": "gateway", "provider": "sandbox"},
            "contact": {"email": "asha@example.com", "name": "Asha"},
            "return_url": _RETURN_URL,
        },
    },
    "range": {
        "summary": "Three days of a range resource, paid from the wallet",
        "value": {
            "resource_id": RESOURCE_ID_EXAMPLE,
            "starts_at": "2026-12-04T07:00:00Z",
            "ends_at": "2026-12-07T07:00:00Z",
            "payment": {"method": "wallet"},
        },
    },
}


def _booking(status: str, payment: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "id": BOOKING_ID_EXAMPLE,
        "customer_id": CUSTOMER_ID_EXAMPLE,
        "status": status,
        "reason": None,
        "slot_id": SLOT_ID_EXAMPLE,
        "resource_id": RESOURCE_ID_EXAMPLE,
        "starts_at": "2026-12-04T07:00:00Z",
        "ends_at": "2026-12-04T07:30:00Z",
        "amount": _MONEY,
        "payment": payment,
        "refunds": [],
        "meeting": {"status": "PENDING", "provider": "jitsi", "url": None},
        "hold_expires_at": None,
        "needs_attention": False,
        "attention_reason": None,
        "created_at": "2026-12-02T10:15:30Z",
        "updated_at": "2026-12-02T10:15:31Z",
        "timeline": [],
        **more,
    }


BOOKING_ANSWERS: dict[str, Any] = {
    "wallet": {
        "summary": "A wallet booking: CONFIRMED at once",
        "value": _booking(
            "CONFIRMED",
            {
                "method": "wallet",
                "provider": None,
                "status": "CAPTURED",
                "captured": _MONEY,
                "refunded": _NONE,
                "order_id": None,
                "checkout_url": None,
            },
            meeting={
                "status": "READY",
                "provider": "jitsi",
                "url": "https://meet.jit.si/booking-5f1d0c9a2b",
            },
            timeline=[
                {"type": "booking.confirmed", "at": "2026-12-02T10:15:31Z", "data": {}},
            ],
        ),
    },
    "gateway": {
        "summary": "A gateway booking: AWAITING_PAYMENT, paid at its checkout",
        "value": _booking(
            "AWAITING_PAYMENT",
            {
                "method": "gateway",
                "provider": "sandbox",
                "status": "PENDING",
                "captured": _NONE,
                "refunded": _NONE,
                "order_id": ORDER_ID_EXAMPLE,
                "checkout_url": CHECKOUT_URL_EXAMPLE,
            },
            hold_expires_at="2026-12-02T10:25:30Z",
        ),
    },
}

METHOD_NOT_ALLOWED: dict[str, Any] = {
    "description": "The path does not serve this method; `Allow` names the ones it does",
    "headers": {
        "Allow": {"description": "The methods the path serves", "schema": {"type": "string"}}
    },
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorOut"},
            "example": {
                "error": {
                    "code": "VALIDATION_ERROR",
                    "message": "Method not allowed.",
                    "request_id": "0f6a2c1e-5b7d-4a3e-9c8b-2d1e0f9a8b7c",
                }
            },
        }
    },
}


def add_examples(schema: dict[str, Any]) -> None:
    """Consistent request and answer examples on ``POST /v1/bookings``."""
    create = schema["paths"]["/v1/bookings"]["post"]
    create["requestBody"]["content"]["application/json"]["examples"] = BOOKING_REQUESTS
    answer = create["responses"]["201"]["content"]["application/json"]
    answer["examples"] = BOOKING_ANSWERS
