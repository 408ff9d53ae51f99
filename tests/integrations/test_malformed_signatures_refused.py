"""A malformed signature, for every provider, is InvalidSignature (400), never another error.

``str.isdigit`` takes "²", which ``int`` refuses: a ``t=²`` header once
escaped verification as a ValueError (a 500).
"""

from __future__ import annotations

import time

import pytest

from core.signing import InvalidSignature, verify_header
from integrations.gateways.base import WebhookVerifier
from integrations.gateways.payhere import PayHereVerifier
from integrations.gateways.paytm import PaytmVerifier
from integrations.gateways.razorpay import RazorpayVerifier
from integrations.gateways.sandbox import SandboxVerifier
from integrations.gateways.stripe import StripeVerifier

SECRET = "whsec_malformed"
BODY = b'{"id": "evt_1", "type": "payment.captured"}'
NOW = time.time()
_HEX = "a" * 64

TIMESTAMPED_HEADERS = [
    "t=²,v1=" + _HEX,
    "t=¹²³,v1=" + _HEX,
    # Arabic-Indic digits, which int() reads: still not the ASCII digits the scheme writes.
    "t=" + "\u0661\u0667" + "\u0660" * 8 + ",v1=" + _HEX,
    "t=" + "9" * 5000 + ",v1=" + _HEX,
    "t=-1,v1=" + _HEX,
    "t=,v1=" + _HEX,
    "t=1700000000",
    "v1=" + _HEX,
    "t",
    ",,,",
    "t=1700000000,v1=ÿé²",
]


@pytest.mark.parametrize("header", TIMESTAMPED_HEADERS)
@pytest.mark.parametrize(
    ("verifier", "name"),
    [
        (SandboxVerifier([SECRET]), "Sandbox-Signature"),
        (StripeVerifier([SECRET]), "Stripe-Signature"),
    ],
)
def test_a_malformed_timestamped_header_is_an_invalid_signature(
    verifier: WebhookVerifier, name: str, header: str
) -> None:
    """Sandbox and Stripe: any malformed ``t=…,v1=…`` header is InvalidSignature."""
    with pytest.raises(InvalidSignature):
        verifier.verify(BODY, {name: header}, now=NOW)


def test_the_shared_check_reads_only_ascii_digits_as_the_time() -> None:
    """``t=²`` is no timestamp: malformed, not a crash in ``int``."""
    with pytest.raises(InvalidSignature, match="malformed"):
        verify_header("t=²,v1=" + _HEX, BODY, [SECRET], now=NOW)


@pytest.mark.parametrize("header", ["²", "ÿ" * 300, "zz", _HEX + "²", "", " ", "t=1,v1=" + _HEX])
def test_a_malformed_razorpay_signature_is_an_invalid_signature(header: str) -> None:
    """Razorpay's hex HMAC header, malformed in any way, is InvalidSignature."""
    with pytest.raises(InvalidSignature):
        RazorpayVerifier([SECRET]).verify(BODY, {"X-Razorpay-Signature": header}, now=NOW)


FORM_BODIES = [
    b"CHECKSUMHASH=%C2%B2&ORDERID=1",
    b"CHECKSUMHASH=" + b"A" * 23 + b"&ORDERID=1",
    b"CHECKSUMHASH=AAAAAAAAAAAAAAAAAAAAAA%3D%3D&ORDERID=1",
    b"CHECKSUMHASH=%00%00&ORDERID=%ff",
    b"md5sig=%C2%B2&merchant_id=m&order_id=1",
    b"md5sig=%00&merchant_id=%ff%fe",
    b"not a form \xff\xfe",
    b"=&=&=",
    b"",
    b'{"json": "not a form"}',
]


@pytest.mark.parametrize("body", FORM_BODIES)
@pytest.mark.parametrize(
    "verifier",
    [PaytmVerifier("0123456789abcdef"), PayHereVerifier("m", "merchant-secret")],
    ids=["paytm", "payhere"],
)
def test_a_malformed_form_signature_is_an_invalid_signature(
    verifier: WebhookVerifier, body: bytes
) -> None:
    """Paytm's CHECKSUMHASH and PayHere's md5sig, malformed in any way: InvalidSignature."""
    with pytest.raises(InvalidSignature):
        verifier.verify(body, {}, now=NOW)
