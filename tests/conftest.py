"""Session-wide real servers: embedded PostgreSQL, the Temporal dev server, an SMTP sink.

Every test of the database, the workflows and the API runs against these;
nothing of our own storage or of Temporal is mocked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from core.db import SessionFactory, create_engine, session_factory
from core.migrate import upgrade
from core.settings import Settings
from core.temporal import connect
from sandbox.app import create_app as create_sandbox
from sandbox.from_settings import sandbox_config
from stack.embedded import EmbeddedPostgres, TemporalDevServer, free_port
from stack.mailsink import MailSink
from worker import build_worker, engine_activities, reconcile_activities, topup_activities

from support.auth import API_URL, JWT_SECRET, PAYLOAD_KEYS, SANDBOX_URL, SANDBOX_WEBHOOK_SECRET
from support.invariants import INVARIANTS


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    """A scratch directory the embedded servers (which drop root) can use."""
    path = Path(tempfile.mkdtemp(prefix="booking-tests-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(workdir: Path) -> Iterator[str]:
    """A migrated database on an embedded PostgreSQL (or ``BOOKING_TEST_DATABASE_URL``)."""
    external = os.environ.get("BOOKING_TEST_DATABASE_URL")
    if external:
        upgrade(external)
        yield external
        return
    postgres = EmbeddedPostgres(workdir / "pg")
    postgres.start()
    url = postgres.url(f"booking_test_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    yield url
    postgres.stop()


@pytest.fixture(scope="session")
async def temporal_server(workdir: Path) -> AsyncIterator[TemporalDevServer]:
    """A real Temporal dev server, headless, with the engine's search attributes."""
    server = TemporalDevServer(
        port=free_port(), ui_port=None, db_file=None, log_file=workdir / "temporal.log"
    )
    await server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mail_sink(workdir: Path) -> Iterator[MailSink]:
    """A local SMTP server that keeps every message."""
    sink = MailSink(workdir / "mail", "127.0.0.1", free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def settings(
    database_url: str, temporal_server: TemporalDevServer, mail_sink: MailSink
) -> Settings:
    """Settings pointing at the session's servers."""
    return Settings(
        env="test",
        database_url=database_url,
        temporal_address=temporal_server.address,
        task_queue=f"bookings-{uuid.uuid4().hex[:8]}",
        jwt_secret=SecretStr(JWT_SECRET),
        smtp_port=mail_sink.port,
        log_format="console",
        notification_max_attempts=2,
        meeting_alert_after_seconds=5,
        payload_keys=SecretStr(PAYLOAD_KEYS),
        sandbox_url=SANDBOX_URL,
        sandbox_api_key=SecretStr("sandbox-test-key"),
        sandbox_webhook_secret=SecretStr(SANDBOX_WEBHOOK_SECRET),
        sandbox_webhook_url=f"{API_URL}/v1/webhooks/sandbox",
        gateway_max_attempts=2,
        # Off for the suite's thousands of requests from one address; their own tests turn
        # them on.
        rate_limit_per_customer=0,
        rate_limit_per_address=0,
        # Tests always run workflow code in the sandbox: it is what catches a
        # non-deterministic call before a worker without it runs the code.
        workflow_sandbox=True,
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test session's connection pool."""
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> SessionFactory:
    """Session factory on the test database."""
    return session_factory(engine)


@pytest.fixture(scope="session")
async def temporal(settings: Settings) -> Client:
    """A client with the pydantic data converter, like every client of the engine."""
    return await connect(settings)


@pytest.fixture(scope="session")
async def api_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The engine's API app, lifespan entered."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def sandbox_app(api_app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    """The sandbox gateway, delivering its signed webhooks to the engine app over HTTP (ASGI)."""
    webhooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url=API_URL)
    app = create_sandbox(
        replace(sandbox_config(settings), initial_backoff=0.05, max_backoff=0.2),
        webhook_client=webhooks,
    )
    async with webhooks, app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def http_for_providers(sandbox_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Outbound HTTP of the activities: gateway calls reach the in-process sandbox."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox_app), base_url=SANDBOX_URL
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def engine_worker(
    temporal: Client,
    settings: Settings,
    sessions: SessionFactory,
    http_for_providers: httpx.AsyncClient,
) -> AsyncIterator[Worker]:
    """The real worker, on the settings' task queue, for API tests."""
    activities = engine_activities(settings, sessions, http_for_providers)
    activities += topup_activities(settings, sessions, http_for_providers)
    activities += reconcile_activities(settings, sessions, http_for_providers, temporal)
    worker = build_worker(temporal, settings, activities)
    async with worker:
        yield worker


@pytest.fixture(scope="session")
async def api(api_app: FastAPI, engine_worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    """The API app behind an in-process HTTP client, with the worker running."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app), base_url=API_URL, timeout=60
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def sandbox(sandbox_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the sandbox gateway (tests play the customer through it)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox_app), base_url=SANDBOX_URL, timeout=60
    ) as client:
        yield client


@pytest.fixture(autouse=True)
async def invariants(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After every test that touched the database: money and capacity still add up."""
    yield
    if "sessions" not in request.fixturenames:
        return
    factory: SessionFactory = request.getfixturevalue("sessions")
    async with factory() as session:
        for breach, query in INVARIANTS.items():
            rows = (await session.execute(text(query))).all()
            assert rows == [], f"{breach}: {rows}"
