"""PayHere: the checkout hash and the notification's ``md5sig``, pinned to known values.

PayHere ships no official Python package, so its documented formulas are
pinned with the example its documentation uses (merchant 1211149, order
ItemNo12345, LKR 1000.00) and a fixed secret: a change to either formula
changes these constants. Refunds go through its Merchant API (OAuth token,
then the refund call), faked at the HTTP layer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest

from integrations.gateways.base import GatewayError, InvalidSignature
from integrations.gateways.payhere import PayHereGateway, PayHereVerifier, checkout_hash, md5sig

from support.http import ScriptedHTTP

MERCHANT, SECRET = "1211149", "4ETwTbKHmP8Tp9gDJZKmaoLKw1Nz9l2e"
CHECKOUT_HASH = "E72FB807FD83E28701DDA7C1E3AFAA1D"
SUCCESS_SIG = "6F29429AA24CFC4F8627B2CCCB483FD2"


def notification(**changes: str) -> bytes:
    """A successful payment notification as PayHere posts it to the notify_url."""
    fields = {
        "merchant_id": MERCHANT,
        "order_id": "ItemNo12345",
        "payment_id": "320025071278",
        "payhere_amount": "1000.00",
        "payhere_currency": "LKR",
        "status_code": "2",
        "md5sig": SUCCESS_SIG,
        "status_message": "Successfully completed the payment.",
        "method": "VISA",
        "card_holder_name": "A Customer",
        "card_no": "************1292",
    }
    return urlencode({**fields, **changes}).encode()


def test_the_documented_formulas_give_the_pinned_values() -> None:
    """The checkout hash and the md5sig of PayHere's example, with our test secret."""
    assert checkout_hash(MERCHANT, "ItemNo12345", "1000.00", "LKR", SECRET) == CHECKOUT_HASH
    assert md5sig(MERCHANT, "ItemNo12345", "1000.00", "LKR", "2", SECRET) == SUCCESS_SIG


def test_a_signed_notification_is_verified_and_mapped() -> None:
    """status_code 2: a capture of payment 320025071278, LKR 1000.00 as 100000 minor units."""
    verifier = PayHereVerifier(MERCHANT, SECRET)

    verifier.verify(notification(), {}, now=0)
    event = verifier.parse(notification(), {})

    assert (event.type, event.order_id, event.payment_id) == (
        "payment.captured",
        "ItemNo12345",
        "320025071278",
    )
    assert (event.amount, event.currency, event.event_id) == (
        100_000,
        "LKR",
        "ItemNo12345:320025071278:2",
    )


@pytest.mark.parametrize(
    "body",
    [
        notification(payhere_amount="10.00"),  # amount changed after signing
        notification(status_code="0"),  # status changed after signing
        notification(md5sig=""),
        notification(
            merchant_id="9999999",
            md5sig=md5sig("9999999", "ItemNo12345", "1000.00", "LKR", "2", SECRET),
        ),
    ],
    ids=["amount", "status", "missing", "other-merchant"],
)
def test_anything_not_signed_for_us_is_refused(body: bytes) -> None:
    """A changed field, no signature, another merchant's: InvalidSignature."""
    with pytest.raises(InvalidSignature):
        PayHereVerifier(MERCHANT, SECRET).verify(body, {}, now=0)


def test_a_failed_payment_maps_to_payment_failed() -> None:
    """status_code -2 is a failed attempt."""
    body = notification(
        status_code="-2", md5sig=md5sig(MERCHANT, "ItemNo12345", "1000.00", "LKR", "-2", SECRET)
    )

    assert PayHereVerifier(MERCHANT, SECRET).parse(body, {}).type == "payment.failed"


async def test_the_order_is_the_checkout_hash_with_no_call() -> None:
    """PayHere has no order API: the reference carries the form's fields and hash."""
    booking = uuid.uuid4()
    gateway = PayHereGateway(
        httpx.AsyncClient(), "https://sandbox.payhere.lk", MERCHANT, SECRET, None, None
    )

    order = await gateway.create_order(
        booking_id=booking,
        amount=100_000,
        currency="LKR",
        idempotency_key="k",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )

    expected = checkout_hash(MERCHANT, str(booking), "1000.00", "LKR", SECRET)
    assert order.order_id == str(booking)
    assert order.checkout_url == f"payhere:order:{booking}:1000.00:LKR:{expected}"


async def test_refunds_take_a_token_once_then_call_the_refund_api() -> None:
    """OAuth client credentials (basic auth), the token reused; status 1 is queued (pending)."""
    payhere = ScriptedHTTP(
        httpx.Response(
            200, json={"access_token": "tok-1", "token_type": "bearer", "expires_in": 599}
        ),
        httpx.Response(
            200, json={"status": 1, "msg": "Successfully queued the payment for refund"}
        ),
        httpx.Response(200, json={"status": -1, "msg": "Payment already refunded"}),
    )
    gateway = PayHereGateway(
        payhere.client(), "https://sandbox.payhere.lk", MERCHANT, SECRET, "app-id", "app-secret"
    )

    first = await gateway.refund(
        order_id="o",
        payment_id="320025071278",
        amount=50_000,
        currency="LKR",
        idempotency_key="b:refund:p",
    )
    with pytest.raises(GatewayError) as refused:
        await gateway.refund(
            order_id="o",
            payment_id="320025071278",
            amount=50_000,
            currency="LKR",
            idempotency_key="b:refund:p2",
        )

    token, refund, _ = payhere.requests
    assert token.url.path == "/merchant/v1/oauth/token"
    assert token.headers["Authorization"].startswith("Basic ")
    assert refund.headers["Authorization"] == "Bearer tok-1"
    assert refund.url.path == "/merchant/v1/payment/refund"
    assert (first.status, first.amount) == ("pending", 50_000)
    assert not refused.value.retryable


async def test_refunds_need_the_merchant_api_credentials() -> None:
    """Without an app id and secret a refund fails at once, never half-done."""
    gateway = PayHereGateway(
        httpx.AsyncClient(), "https://sandbox.payhere.lk", MERCHANT, SECRET, None, None
    )

    with pytest.raises(GatewayError) as missing:
        await gateway.refund(
            order_id="o", payment_id="p", amount=1, currency="LKR", idempotency_key="k"
        )

    assert not missing.value.retryable
