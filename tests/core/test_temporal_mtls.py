"""Temporal behind TLS, as Temporal Cloud and self-hosted mTLS clusters are reached.

The session's dev server sits behind a TLS front (``support/temporal_front.py``)
with a certificate of a CA made here. One front demands a client certificate of
that CA; the API app and a real worker are pointed at it only through the
Temporal SDK's variables (``TEMPORAL_ADDRESS``, ``TEMPORAL_TLS_*``) and take a
wallet booking to CONFIRMED. Another front reads the request headers after TLS,
to see the API key arrive as a server receives it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from core.db import SessionFactory
from core.settings import Settings
from core.temporal import TemporalUnreachable, connect
from stack.embedded import TemporalDevServer
from worker import engine_activities

from support.catalog import book, fund, make_slot
from support.engine import engine_on_queue
from support.temporal_front import TlsFront
from support.tls import Pki, client_certificate, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, the front's certificate (127.0.0.1, localhost) and a client certificate."""
    pki = make_pki(tmp_path_factory.mktemp("temporal-pki"), name="Temporal test CA")
    client_certificate(pki, "booking-worker")
    return pki


@pytest.fixture
async def mtls_front(pki: Pki, temporal_server: TemporalDevServer) -> AsyncIterator[TlsFront]:
    """The dev server behind TLS that refuses a client without a certificate of ``pki``."""
    front = TlsFront(
        temporal_server.address,
        cert_file=pki.cert_file,
        key_file=pki.key_file,
        client_ca_file=pki.ca_file,
    )
    await front.start()
    yield front
    await front.stop()


def _through(settings: Settings, env: dict[str, str]) -> Settings:
    """``settings`` with only the Temporal SDK's variables saying where Temporal is."""
    return settings.model_copy(update={"temporal_address": None, "temporal_client_env": env})


def _mtls_env(front: TlsFront, pki: Pki) -> dict[str, str]:
    directory = pki.ca_file.parent
    return {
        "TEMPORAL_ADDRESS": front.address,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca_file),
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(directory / "booking-worker.crt"),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(directory / "booking-worker.key"),
    }


async def test_api_and_worker_confirm_a_booking_through_mtls(
    mtls_front: TlsFront,
    pki: Pki,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
) -> None:
    """With TEMPORAL_TLS_* only, the API starts and a worker runs a wallet booking to CONFIRMED."""
    mtls = _through(settings, _mtls_env(mtls_front, pki))
    client = await connect(mtls)
    activities = engine_activities(mtls, sessions, http_for_providers)
    customer = uuid.uuid4()
    async with engine_on_queue(client, mtls, activities) as api:
        slot = await make_slot(api, price=2_500)
        await fund(api, customer, 2_500)
        created = await book(api, customer, slot["id"])

    assert created.status_code == 201, created.text
    assert created.json()["status"] == "CONFIRMED"
    # The worker's and the API's clients, each with the certificate; nothing else got in.
    assert mtls_front.clients.count("booking-worker") >= 2
    assert set(mtls_front.clients) == {"booking-worker"}
    assert mtls_front.refused == []


async def test_without_a_client_certificate_the_connection_is_refused(
    mtls_front: TlsFront, pki: Pki, settings: Settings
) -> None:
    """The CA alone is not enough: the front refuses, and the error names the target."""
    env = _mtls_env(mtls_front, pki)
    del env["TEMPORAL_TLS_CLIENT_CERT_PATH"], env["TEMPORAL_TLS_CLIENT_KEY_PATH"]

    with pytest.raises(TemporalUnreachable) as refused:
        await connect(_through(settings, env))

    message = str(refused.value)
    assert message.startswith(f"Temporal at {mtls_front.address} (namespace default, TLS)")
    assert "did not accept the connection" in message
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" in message  # the hint: what such a cluster wants
    assert "\n" not in message
    assert mtls_front.clients == []
    assert mtls_front.refused, "the front saw no handshake"


async def test_a_certificate_of_another_ca_is_refused(
    mtls_front: TlsFront, pki: Pki, settings: Settings, tmp_path: Path
) -> None:
    """A client certificate the cluster's CA did not sign gets no connection."""
    stranger = make_pki(tmp_path / "other", name="Someone else's CA")
    cert, key = client_certificate(stranger, "intruder")
    env = _mtls_env(mtls_front, pki)
    env |= {"TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert), "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key)}

    with pytest.raises(TemporalUnreachable):
        await connect(_through(settings, env))

    assert mtls_front.clients == []


async def test_an_api_key_reaches_the_server_as_bearer_authorization(
    pki: Pki, temporal_server: TemporalDevServer, settings: Settings
) -> None:
    """TEMPORAL_API_KEY turns TLS on and arrives as ``authorization: Bearer <key>`` metadata."""
    front = TlsFront(
        temporal_server.address, cert_file=pki.cert_file, key_file=pki.key_file, tap=True
    )
    await front.start()
    key = f"test-key-{uuid.uuid4().hex}"
    env = {
        "TEMPORAL_ADDRESS": front.address,
        "TEMPORAL_API_KEY": key,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca_file),
    }
    try:
        client = await connect(_through(settings, env))
        await client.count_workflows("WorkflowType = 'NoSuchWorkflow'")
    finally:
        await front.stop()

    [connection] = front.headers
    calls = [h for h in connection.requests if h.get(":path", "").startswith("/temporal.api.")]
    assert calls, connection.requests
    assert {call["authorization"] for call in calls} == {f"Bearer {key}"}
