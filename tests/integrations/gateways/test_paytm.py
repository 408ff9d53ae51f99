"""Paytm: checksums checked against Paytm's own ``paytmchecksum`` package, both ways.

The package signs the notifications our verifier must accept, and verifies
the signatures our API calls carry; requests and answers are shaped like
Paytm's documentation (Initiate Transaction, Refund, the payment notification).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from paytmchecksum import PaytmChecksum

from integrations.gateways.base import GatewayError, InvalidSignature
from integrations.gateways.paytm import PaytmGateway, PaytmVerifier, checksum, verify_checksum

from support.http import ScriptedHTTP

KEY = "kbzk1DSbJiV_O3p5"  # 16 characters, as Paytm's merchant keys are
MID = "DEMOMID12345678901"
BOOKING_ID = uuid.UUID("3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17")


def notification(**changes: str) -> dict[str, str]:
    """A successful payment notification as Paytm posts it (without its checksum)."""
    fields = {
        "BANKNAME": "State Bank of India",
        "BANKTXNID": "777001234567890",
        "CURRENCY": "INR",
        "GATEWAYNAME": "SBI",
        "MID": MID,
        "ORDERID": str(BOOKING_ID),
        "PAYMENTMODE": "NB",
        "RESPCODE": "01",
        "RESPMSG": "Txn Success",
        "STATUS": "TXN_SUCCESS",
        "TXNAMOUNT": "500.00",
        "TXNDATE": "2026-12-02 10:15:30.0",
        "TXNID": "20261202111212800110168312345678901",
    }
    return {**fields, **changes}


def signed_by_paytm(fields: dict[str, str]) -> bytes:
    """The form body, with the CHECKSUMHASH Paytm's own package computes."""
    return urlencode(
        {**fields, "CHECKSUMHASH": PaytmChecksum.generateSignature(fields, KEY)}
    ).encode()


def test_the_official_package_and_ours_agree_on_checksums() -> None:
    """Ours verifies Paytm's; Paytm's verifies ours; a changed field fails both."""
    fields = notification()
    theirs = PaytmChecksum.generateSignature(fields, KEY)
    ours = checksum(fields, KEY)
    tampered = {**fields, "TXNAMOUNT": "5000.00"}

    assert verify_checksum(fields, KEY, theirs)
    assert PaytmChecksum.verifySignature(dict(fields), KEY, ours)
    assert not verify_checksum(tampered, KEY, theirs)
    assert not PaytmChecksum.verifySignature(dict(tampered), KEY, ours)
    assert not verify_checksum(fields, "another_key_1234", theirs)


def test_a_notification_signed_by_paytm_is_verified_and_mapped() -> None:
    """TXN_SUCCESS is a capture of TXNID for our order, 500.00 INR as 50000 minor units."""
    verifier = PaytmVerifier(KEY)
    body = signed_by_paytm(notification())

    verifier.verify(body, {}, now=0)
    event = verifier.parse(body, {})

    assert (event.type, event.order_id, event.reference) == (
        "payment.captured",
        str(BOOKING_ID),
        str(BOOKING_ID),
    )
    assert (event.payment_id, event.amount, event.currency) == (
        "20261202111212800110168312345678901",
        50_000,
        "INR",
    )
    assert event.event_id == f"{BOOKING_ID}:20261202111212800110168312345678901:TXN_SUCCESS"


@pytest.mark.parametrize(
    "body",
    [
        urlencode(notification()).encode(),  # no checksum
        signed_by_paytm(notification()).replace(b"500.00", b"5.00"),  # amount changed after
        b"%%%not a form",
    ],
    ids=["missing", "tampered", "garbage"],
)
def test_a_notification_not_signed_with_our_key_is_refused(body: bytes) -> None:
    """No checksum, a changed field, or no form at all: InvalidSignature."""
    with pytest.raises(InvalidSignature):
        PaytmVerifier(KEY).verify(body, {}, now=0)


def test_a_failed_attempt_maps_to_payment_failed() -> None:
    """TXN_FAILURE is a failed attempt (the customer may try again)."""
    fields = notification(STATUS="TXN_FAILURE", RESPCODE="227", RESPMSG="Declined")

    event = PaytmVerifier(KEY).parse(signed_by_paytm(fields), {})

    assert event.type == "payment.failed"


def _body_and_signature(request: httpx.Request) -> tuple[dict[str, Any], str, str]:
    """A Paytm JSON API request: its body, the body's text as signed, and the signature."""
    raw = request.content.decode()
    body_text = raw[raw.index('{"body": ') + len('{"body": ') : raw.index(', "head": ')]
    document = json.loads(raw)
    return document["body"], body_text, document["head"]["signature"]


async def test_initiate_transaction_is_signed_as_paytm_verifies_it() -> None:
    """The request's head.signature verifies with Paytm's package; the token is returned."""
    paytm = ScriptedHTTP(
        httpx.Response(
            200,
            json={
                "head": {"responseTimestamp": "1764670000000", "version": "v1"},
                "body": {
                    "resultInfo": {
                        "resultStatus": "S",
                        "resultCode": "0000",
                        "resultMsg": "Success",
                    },
                    "txnToken": "f0bed899539742309eebd8XXXX7edcf61588842333227",
                    "isPromoCodeValid": False,
                    "authenticated": False,
                },
            },
        )
    )
    gateway = PaytmGateway(
        paytm.client(), "https://securegw-stage.paytm.in", MID, KEY, "WEBSTAGING"
    )

    order = await gateway.create_order(
        booking_id=BOOKING_ID,
        amount=50_000,
        currency="INR",
        idempotency_key="k",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )

    (request,) = paytm.requests
    body, body_text, signature = _body_and_signature(request)
    assert request.url.path == "/theia/api/v1/initiateTransaction"
    assert request.url.params["orderId"] == str(BOOKING_ID)
    assert PaytmChecksum.verifySignature(body_text, KEY, signature)
    assert body["txnAmount"] == {"value": "500.00", "currency": "INR"}
    assert body["websiteName"] == "WEBSTAGING"
    assert order.order_id == str(BOOKING_ID)
    assert order.checkout_url == (
        f"paytm:order:{BOOKING_ID}:f0bed899539742309eebd8XXXX7edcf61588842333227"
    )


async def test_a_refused_initiate_and_a_failed_refund_are_not_retried() -> None:
    """ResultCode other than 0000/0002, and a refund TXN_FAILURE: non-retryable errors."""
    paytm = ScriptedHTTP(
        httpx.Response(
            200, json={"body": {"resultInfo": {"resultStatus": "F", "resultCode": "1001"}}}
        ),
        httpx.Response(
            200,
            json={"body": {"resultInfo": {"resultStatus": "TXN_FAILURE", "resultCode": "617"}}},
        ),
    )
    gateway = PaytmGateway(paytm.client(), "https://securegw-stage.paytm.in", MID, KEY, "WEB")

    with pytest.raises(GatewayError) as initiate:
        await gateway.create_order(
            booking_id=BOOKING_ID,
            amount=100,
            currency="INR",
            idempotency_key="k",
            expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
    with pytest.raises(GatewayError) as refund:
        await gateway.refund(
            order_id=str(BOOKING_ID),
            payment_id="T1",
            amount=100,
            currency="INR",
            idempotency_key="x",
        )

    assert not initiate.value.retryable
    assert not refund.value.retryable
    assert "1001" in str(initiate.value)


async def test_a_refund_is_signed_keyed_and_pending_until_paytm_says_so() -> None:
    """RefId is derived from our key (the same on a retry); PENDING is reported pending."""
    answer = {
        "head": {},
        "body": {
            "resultInfo": {
                "resultStatus": "PENDING",
                "resultCode": "601",
                "resultMsg": "Refund request was raised",
            },
            "refundId": "PAYTM_REFUND_20261202",
            "refundAmount": "250.00",
        },
    }
    paytm = ScriptedHTTP(httpx.Response(200, json=answer), httpx.Response(200, json=answer))
    gateway = PaytmGateway(paytm.client(), "https://securegw-stage.paytm.in", MID, KEY, "WEB")
    key = f"{BOOKING_ID}:refund:20261202111212800110168312345678901"

    first = await gateway.refund(
        order_id=str(BOOKING_ID),
        payment_id="T1",
        amount=25_000,
        currency="INR",
        idempotency_key=key,
    )
    await gateway.refund(
        order_id=str(BOOKING_ID),
        payment_id="T1",
        amount=25_000,
        currency="INR",
        idempotency_key=key,
    )

    (body, body_text, signature), (again, _, _) = (_body_and_signature(r) for r in paytm.requests)
    assert PaytmChecksum.verifySignature(body_text, KEY, signature)
    assert (body["refundAmount"], body["txnType"], body["txnId"]) == ("250.00", "REFUND", "T1")
    assert body["refId"] == again["refId"]
    assert len(body["refId"]) <= 50
    assert (first.refund_id, first.status, first.amount) == (
        "PAYTM_REFUND_20261202",
        "pending",
        25_000,
    )
