"""PostgreSQL over TLS, configured by the URL alone, against a real server with ``ssl=on``.

The server (``support.pg_tls``) is PostgreSQL built with OpenSSL, its
certificate issued by a CA made here, and its ``pg_hba.conf`` of ``hostssl``
lines only: the server itself refuses a connection that does not ask for TLS.
Every connection goes through the project's own code: ``core.db.create_engine``
(the API's and the worker's engine), ``core.migrate.upgrade`` (``booking-engine
migrate``) and ``stack.check.run_checks`` (``booking-engine check``), each given
only the URL that docs/postgres-tls.md documents.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import create_engine
from core.db_tls import split_tls
from core.migrate import alembic_config, upgrade
from core.settings import Settings
from stack.check import Outcome, report, run_checks

from support.pg_tls import TlsPostgres
from support.tls import make_pki

DATABASE = "booking_tls"
_SESSION_TLS = text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")


@dataclass(frozen=True)
class Server:
    """The TLS-only server, the CA that signed its certificate, and a CA that did not."""

    postgres: TlsPostgres
    ca_file: Path
    other_ca_file: Path

    def url(self, query: str, host: str = "127.0.0.1", database: str = DATABASE) -> str:
        return self.postgres.url(database, query, host)

    def verified(self, ca_file: Path | None = None, host: str = "127.0.0.1") -> str:
        """The documented URL: ``sslmode=verify-full`` and the CA file."""
        return self.url(f"sslmode=verify-full&sslrootcert={ca_file or self.ca_file}", host)


def _scratch() -> tuple[Path, TlsPostgres, Path]:
    """A directory, the server to run in it (not started), and another CA's certificate."""
    base = Path(tempfile.mkdtemp(prefix="booking-pgtls-"))
    # As root the server runs as another user, which must reach its directory.
    base.chmod(0o755)
    pki = make_pki(base / "pki", hosts=("localhost",), addresses=("127.0.0.1",))
    other = make_pki(base / "other-pki", name="Some other CA")
    return base, TlsPostgres(base / "server", pki), other.ca_file


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Server]:
    """PostgreSQL with ``ssl=on``, hostssl only, a certificate for 127.0.0.1 from a CA made here.

    It has a ``booking_tls`` database, empty until the migrations test runs.
    """
    base, postgres, other_ca_file = await asyncio.to_thread(_scratch)
    try:
        await asyncio.to_thread(postgres.start)
        await postgres.ready()
        found = Server(postgres, postgres.pki.ca_file, other_ca_file)
        engine = create_engine(
            Settings(env="test"), found.verified().replace(f"/{DATABASE}?", "/postgres?")
        )
        try:
            autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
            async with autocommit.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
        finally:
            await engine.dispose()
        yield found
    finally:
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_tls_unless_the_url_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment asks for no TLS (asyncpg reads ``PGSSLMODE`` when given no mode).

    Without it asyncpg would try TLS anyway (its default is ``prefer``): here a
    session is encrypted only because the URL's parameters reached the driver.
    """
    monkeypatch.setenv("PGSSLMODE", "disable")


async def _session_tls(url: str) -> tuple[bool, str]:
    """``pg_stat_ssl`` of the session the project's engine (``core.db``) opens at ``url``."""
    engine = create_engine(Settings(env="test", database_url=url))
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(_SESSION_TLS)).one()
    finally:
        await engine.dispose()
    return bool(row.ssl), str(row.version)


async def _check_postgres(url: str) -> Outcome:
    """The PostgreSQL line of ``booking-engine check`` with ``url`` configured."""
    outcomes = await run_checks(Settings(env="test", database_url=url))
    [line] = [outcome for outcome in outcomes if outcome.name == "PostgreSQL"]
    return line


def _connections_logged(server: Server) -> list[str]:
    """The server's "connection authorized" log lines (``log_connections``), oldest first."""
    log = server.postgres.log.read_text(errors="replace")
    return [line for line in log.splitlines() if "connection authorized" in line]


@pytest.mark.parametrize("mode", ["sslmode=verify-full", "ssl=verify-full"])
async def test_engine_session_is_tls_on_the_server(server: Server, mode: str) -> None:
    """verify-full and the CA file in the URL: pg_stat_ssl shows TLS for the engine's session."""
    encrypted, version = await _session_tls(server.url(f"{mode}&sslrootcert={server.ca_file}"))

    assert encrypted is True
    assert version in {"TLSv1.2", "TLSv1.3"}


async def test_server_refuses_a_plain_connection(server: Server) -> None:
    """Only hostssl lines: the server refuses a plain connection, so whatever got in was TLS."""
    with pytest.raises(DBAPIError, match=r"no pg_hba\.conf entry.*no encryption") as caught:
        await _session_tls(server.url("sslmode=disable"))
    assert caught.value.orig is not None
    assert isinstance(caught.value.orig.__cause__, asyncpg.InvalidAuthorizationSpecificationError)


async def test_a_server_another_ca_signed_is_refused_in_words(server: Server) -> None:
    """Another CA in the URL: the engine refuses the certificate; the check says so in words."""
    wrong = server.verified(server.other_ca_file)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await _session_tls(wrong)

    line = await _check_postgres(wrong)

    assert line.status == "FAIL"
    printed, code = report([line])
    assert code == 1
    assert (
        f"FAIL  PostgreSQL at 127.0.0.1:{server.postgres.port}/{DATABASE}:"
        " TLS certificate not accepted (unable to get local issuer certificate)"
    ) in printed
    assert server.postgres.password not in printed


async def test_verify_full_checks_the_host_name(server: Server) -> None:
    """127.0.0.2, which the certificate does not name: verify-full refuses, verify-ca accepts."""
    other_host = server.verified(host="127.0.0.2")

    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        await _session_tls(other_host)
    # verify-ca checks the chain only, as libpq does.
    assert (await _session_tls(other_host.replace("verify-full", "verify-ca")))[0] is True


async def test_migrations_run_over_verified_tls(server: Server) -> None:
    """``booking-engine migrate`` with the documented URL: at head over TLS; the check says ok."""
    url = server.verified()
    before = len(_connections_logged(server))

    # Alembic's env runs its own event loop: in a thread.
    await asyncio.to_thread(upgrade, url)

    migrating = _connections_logged(server)[before:]
    assert migrating
    assert all("SSL enabled" in line for line in migrating), migrating
    [head] = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    engine = create_engine(Settings(env="test", database_url=url))
    try:
        async with engine.connect() as connection:
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    assert revision == head
    line = await _check_postgres(url)
    assert (line.status, line.words) == (
        "ok",
        f" 17.10 at 127.0.0.1:{server.postgres.port}/{DATABASE}, schema at head ({head})",
    )


async def test_migrations_refuse_a_server_another_ca_signed(server: Server) -> None:
    """The migrations verify the certificate as the engine does."""
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await asyncio.to_thread(upgrade, server.verified(server.other_ca_file))


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
