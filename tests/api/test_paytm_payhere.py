"""Paytm and PayHere through the engine: the same guarantees as every gateway.

A booking paid through each: its notification, signed as the provider signs
it (Paytm's own ``paytmchecksum``; PayHere's documented md5sig), is verified
over the raw body, stored once however often it comes, confirms the booking;
a cancel refunds through the provider's refund API. The providers' HTTP APIs
are faked at the HTTP layer.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from paytmchecksum import PaytmChecksum
from pydantic import SecretStr
from temporalio.client import Client

from core.db import SessionFactory
from core.settings import Settings
from integrations.gateways.payhere import md5sig
from worker import engine_activities
from workflows.booking import BookingWorkflow

from support.auth import bearer
from support.catalog import make_slot
from support.engine import engine_on_queue
from support.workflows import settled, until_state

PAYTM_KEY, PAYTM_MID = "kbzk1DSbJiV_O3p5", "DEMOMID12345678901"
PAYHERE_ID, PAYHERE_SECRET = "1211149", "4ETwTbKHmP8Tp9gDJZKmaoLKw1Nz9l2e"


class Providers:
    """Paytm's and PayHere's APIs, as the engine's activities call them: answers and records."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/theia/api/v1/initiateTransaction":
            return httpx.Response(
                200,
                json={
                    "head": {},
                    "body": {
                        "resultInfo": {"resultStatus": "S", "resultCode": "0000"},
                        "txnToken": "token-1",
                    },
                },
            )
        if path == "/refund/apply":
            return httpx.Response(
                200,
                json={
                    "body": {
                        "resultInfo": {"resultStatus": "PENDING", "resultCode": "601"},
                        "refundId": "PAYTM_REFUND_1",
                    }
                },
            )
        if path == "/merchant/v1/oauth/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 599})
        if path == "/merchant/v1/payment/refund":
            return httpx.Response(200, json={"status": 1, "msg": "queued"})
        return httpx.Response(404)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def _settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "paytm_mid": PAYTM_MID,
            "paytm_merchant_key": SecretStr(PAYTM_KEY),
            "paytm_api_base": "https://securegw-stage.paytm.in",
            "payhere_merchant_id": PAYHERE_ID,
            "payhere_merchant_secret": SecretStr(PAYHERE_SECRET),
            "payhere_app_id": "app",
            "payhere_app_secret": SecretStr("app-secret"),
            "payhere_api_base": "https://sandbox.payhere.lk",
        }
    )


def paytm_notification(order_id: str, amount: str, txn: str = "TXN-1") -> bytes:
    fields = {
        "MID": PAYTM_MID,
        "ORDERID": order_id,
        "TXNID": txn,
        "TXNAMOUNT": amount,
        "CURRENCY": "INR",
        "STATUS": "TXN_SUCCESS",
        "RESPCODE": "01",
        "RESPMSG": "Txn Success",
    }
    return urlencode(
        {**fields, "CHECKSUMHASH": PaytmChecksum.generateSignature(fields, PAYTM_KEY)}
    ).encode()


def payhere_notification(order_id: str, amount: str, currency: str = "INR") -> bytes:
    fields = {
        "merchant_id": PAYHERE_ID,
        "order_id": order_id,
        "payment_id": str(uuid.uuid4().int)[:12],
        "payhere_amount": amount,
        "payhere_currency": currency,
        "status_code": "2",
    }
    signature = md5sig(PAYHERE_ID, order_id, amount, currency, "2", PAYHERE_SECRET)
    return urlencode({**fields, "md5sig": signature}).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _book(api: httpx.AsyncClient, provider: str) -> dict[str, Any]:
    slot = await make_slot(api, price=50_000)
    response = await api.post(
        "/v1/bookings",
        json={"slot_id": slot["id"], "payment": {"method": "gateway", "provider": provider}},
        headers={**bearer(uuid.uuid4()), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    booking: dict[str, Any] = response.json()
    return booking


async def _cancel_and_read(
    api: httpx.AsyncClient, booking: dict[str, Any], temporal: Client
) -> tuple[httpx.Response, dict[str, Any]]:
    handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{booking['id']}")
    await until_state(handle, settled("CONFIRMED"))
    cancelled = await api.post(
        f"/v1/bookings/{booking['id']}/cancel", headers=bearer(uuid.UUID(booking["customer_id"]))
    )
    view: dict[str, Any] = (
        await api.get(
            f"/v1/bookings/{booking['id']}", headers=bearer(uuid.UUID(booking["customer_id"]))
        )
    ).json()
    return cancelled, view


async def test_a_paytm_booking_confirms_once_and_refunds_through_paytm(
    settings: Settings, sessions: SessionFactory, temporal: Client
) -> None:
    """Initiated at Paytm; its checksummed notification (sent twice) confirms; a cancel refunds."""
    providers = Providers()
    paytm = _settings(settings)
    async with httpx.AsyncClient(transport=httpx.MockTransport(providers)) as http:
        activities = engine_activities(paytm, sessions, http)
        async with engine_on_queue(temporal, paytm, activities) as api:
            booking = await _book(api, "paytm")
            body = paytm_notification(booking["payment"]["order_id"], "500.00")
            first = await api.post("/v1/webhooks/paytm", content=body, headers=FORM)
            again = await api.post("/v1/webhooks/paytm", content=body, headers=FORM)
            forged = await api.post(
                "/v1/webhooks/paytm", content=body.replace(b"500.00", b"5.00"), headers=FORM
            )
            cancelled, view = await _cancel_and_read(api, booking, temporal)

    assert booking["payment"]["checkout_url"] == f"paytm:order:{booking['id']}:token-1"
    assert (first.json()["status"], again.json()["status"]) == ("SIGNALLED", "SIGNALLED")
    assert forged.status_code == 400
    assert view["payment"]["captured"] == {"amount": 50_000, "currency": "INR"}
    assert cancelled.json()["refund"]["method"] == "paytm"
    refund = next(r for r in providers.requests if r.url.path == "/refund/apply")
    assert json.loads(refund.content)["body"]["refundAmount"] == "500.00"
    assert providers.paths().count("/refund/apply") == 1


async def test_a_payhere_booking_confirms_and_refunds_and_a_wrong_amount_is_never_confirmed(
    settings: Settings, sessions: SessionFactory, temporal: Client
) -> None:
    """No order call; the md5sig'd notification confirms; a cancel refunds through PayHere.

    A notification for the wrong amount never confirms its booking: the booking
    waits for the genuine payment, and cancelled, refunds that one whole.
    """
    providers = Providers()
    payhere = _settings(settings)
    async with httpx.AsyncClient(transport=httpx.MockTransport(providers)) as http:
        activities = engine_activities(payhere, sessions, http)
        async with engine_on_queue(temporal, payhere, activities) as api:
            booking = await _book(api, "payhere")
            order = booking["payment"]["order_id"]
            paid = await api.post(
                "/v1/webhooks/payhere", content=payhere_notification(order, "500.00"), headers=FORM
            )
            cancelled, view = await _cancel_and_read(api, booking, temporal)
            short = await _book(api, "payhere")
            await api.post(
                "/v1/webhooks/payhere",
                content=payhere_notification(short["payment"]["order_id"], "5.00"),
                headers=FORM,
            )
            handle = temporal.get_workflow_handle_for(BookingWorkflow.run, f"booking-{short['id']}")
            held = await until_state(handle, lambda s: "PAYMENT_MISMATCH" in s.attention and s.idle)
            given_back = await api.post(
                f"/v1/bookings/{short['id']}/cancel",
                headers=bearer(uuid.UUID(short["customer_id"])),
            )

    assert booking["payment"]["checkout_url"].startswith(f"payhere:order:{order}:500.00:INR:")
    assert paid.json()["status"] == "SIGNALLED"
    assert view["status"] == "CANCELLED"
    assert cancelled.json()["refund"]["method"] == "payhere"
    assert held.status == "AWAITING_PAYMENT"
    assert given_back.json()["refund"]["amount"] == {"amount": 500, "currency": "INR"}
    assert providers.paths().count("/merchant/v1/payment/refund") == 2
    assert providers.paths().count("/merchant/v1/oauth/token") == 1
