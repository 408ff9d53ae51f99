"""A Python client generated from the served OpenAPI document runs the booking flow as it is.

``openapi-python-client`` turns ``/openapi.json`` into a package (offline, no
hand edits), and the guide's flow (docs/api.md) goes through its typed
functions and models only: an operator makes a resource and a slot and
credits a wallet; the customer lists the free slots, books one from the
wallet with an ``Idempotency-Key``, reads the booking, cancels it and reads
the wallet. A document the generator cannot read, or that gives models which
do not parse the live answers, fails here.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.auth import issue_token

from support.auth import API_URL, JWT_SECRET

PACKAGE = "booking_engine_client"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def _generate(document: dict[str, Any], where: Path) -> subprocess.CompletedProcess[str]:
    """Run the generator on the document, with every network address refused."""
    spec = where / "openapi.json"
    spec.write_text(json.dumps(document))
    config = where / "config.yaml"
    # No formatter run after generation: the client is imported, not read.
    config.write_text("post_hooks: []\n")
    unreachable = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": unreachable, "HTTPS_PROXY": unreachable}
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    return subprocess.run(  # noqa: S603 - our own generator on our own document
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(spec),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def client_package(tmp_path: Path, api_app: FastAPI) -> Iterator[ModuleType]:
    """The generated package, importable for the test and forgotten afterwards."""
    generated = _generate(api_app.openapi(), tmp_path)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # The generator says "Warning(s) encountered" when it had to skip part of the document.
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def _client(api_app: FastAPI, subject: uuid.UUID, role: str) -> Any:
    """The generated AuthenticatedClient, speaking to the in-process app."""
    client = _module("client")
    return client.AuthenticatedClient(
        base_url=API_URL,
        token=issue_token(JWT_SECRET, subject, role, 3600),  # type: ignore[arg-type]
        raise_on_unexpected_status=True,
        httpx_args={"transport": httpx.ASGITransport(app=api_app)},
    )


async def test_the_generated_client_runs_the_booking_flow(
    client_package: ModuleType, api_app: FastAPI, api: httpx.AsyncClient
) -> None:
    """Resource, slot, credit, free slots, wallet booking, read, cancel, wallet: all typed."""
    models = _module("models")
    customer_id = uuid.uuid4()
    operator = _client(api_app, uuid.uuid4(), "operator")
    customer = _client(api_app, customer_id, "customer")
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    price = models.Money(amount=50_000, currency="INR")

    resource = await _module("api.catalog.create_resource").asyncio(
        client=operator, body=models.ResourceIn(name="Dr. Rao", timezone="Asia/Kolkata")
    )
    created = await _module("api.catalog.create_slots").asyncio(
        resource.id,
        client=operator,
        body=models.SlotsIn(
            slots=[
                models.SlotIn(starts_at=starts, ends_at=starts + timedelta(minutes=30), price=price)
            ]
        ),
    )
    credit = await _module("api.wallets.credit_wallet").asyncio(
        customer_id,
        client=operator,
        body=models.CreditIn(
            amount=models.PositiveMoney(amount=80_000, currency="INR"), reason="welcome"
        ),
        idempotency_key=f"credit-{customer_id}",
    )
    free = await _module("api.catalog.list_slots").asyncio(
        client=customer, resource_id=resource.id, available=True
    )
    (slot,) = free.items
    key = f"book-{customer_id}"
    booking = await _module("api.bookings.create_booking").asyncio(
        client=customer,
        body=models.BookingIn(
            slot_id=slot.id, payment=models.PaymentIn(method=models.PaymentMethod.WALLET)
        ),
        idempotency_key=key,
    )
    replayed = await _module("api.bookings.create_booking").asyncio_detailed(
        client=customer,
        body=models.BookingIn(
            slot_id=slot.id, payment=models.PaymentIn(method=models.PaymentMethod.WALLET)
        ),
        idempotency_key=key,
    )
    read = await _module("api.bookings.get_booking").asyncio(booking.id, client=customer)
    cancelled = await _module("api.bookings.cancel_booking").asyncio(
        booking.id, client=customer, body=models.CancelIn(reason="plans changed")
    )
    wallet = await _module("api.wallets.get_my_wallet").asyncio(client=customer)

    assert isinstance(resource, models.ResourceOut)
    assert [s.id for s in created.items] == [slot.id]
    assert isinstance(credit, models.CreditOut)
    assert isinstance(slot, models.SlotOut)
    assert slot.remaining_capacity == 1
    assert slot.starts_at == starts
    assert isinstance(booking, models.BookingOut)
    assert booking.status == models.BookingStatus.CONFIRMED
    assert booking.amount.amount == 50_000
    assert replayed.status_code == 201
    assert replayed.parsed.id == booking.id
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert isinstance(read, models.BookingOut)
    assert read.id == booking.id
    assert read.payment.status == models.PaymentStatus.CAPTURED
    assert isinstance(cancelled, models.CancellationOut)
    assert cancelled.status == models.BookingStatus.CANCELLED
    assert cancelled.refund.amount.amount == 50_000
    assert isinstance(wallet, models.WalletOut)
    assert [(b.amount, b.currency) for b in wallet.balances] == [(80_000, "INR")]


async def test_an_error_answer_parses_as_the_envelope(
    client_package: ModuleType, api_app: FastAPI, api: httpx.AsyncClient
) -> None:
    """A refusal comes back as the generated ErrorOut, its code and request id readable."""
    models = _module("models")
    customer = _client(api_app, uuid.uuid4(), "customer")

    refused = await _module("api.bookings.create_booking").asyncio_detailed(
        client=customer,
        body=models.BookingIn(
            slot_id=uuid.uuid4(), payment=models.PaymentIn(method=models.PaymentMethod.WALLET)
        ),
        idempotency_key=str(uuid.uuid4()),
    )

    assert refused.status_code == 404
    assert isinstance(refused.parsed, models.ErrorOut)
    assert refused.parsed.error.code == "SLOT_NOT_FOUND"
    assert refused.parsed.error.request_id == refused.headers["X-Request-ID"]
