"""``booking-engine check`` against real components: what works is ``ok``, what does not ``FAIL``.

PostgreSQL and Temporal are the test session's servers, the mail relay its SMTP
sink (and an aiosmtpd relay with STARTTLS and AUTH made here), the identity
provider a JWKS served on loopback with keys generated here, and the sandbox
gateway the real ``booking-engine sandbox`` process. The command runs as an
operator runs it once; the other cases call the checks in-process.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from alembic import command
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import create_engine
from core.migrate import alembic_config
from core.settings import Settings
from stack.check import Outcome, report, run_checks
from stack.embedded import free_port

from support.auth import JWT_SECRET, PAYLOAD_KEYS, SANDBOX_WEBHOOK_SECRET
from support.identity import AUDIENCE, ISSUER, JwksServer, SigningKey, silent_server
from support.tls import Pki, make_pki

BIN = Path(sys.executable).parent
SANDBOX_KEY = "sandbox-check-key-" + "z" * 20
RELAY_USER, RELAY_PASSWORD = "relay-user", "relay-password-for-check"


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    """The identity provider's key set on loopback: an RSA and an EC key made here."""
    with JwksServer([SigningKey.generate("RS256"), SigningKey.generate("ES256")]).running() as idp:
        yield idp


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sandbox gateway as its own process (``booking-engine sandbox``) on a free port."""
    port = free_port()
    env = _clean_env() | {
        "BOOKING_ENV": "test",
        "BOOKING_DATA_DIR": str(tmp_path_factory.mktemp("sandbox")),
        "BOOKING_SANDBOX_PORT": str(port),
        "BOOKING_SANDBOX_API_KEY": SANDBOX_KEY,
        "BOOKING_SANDBOX_WEBHOOK_SECRET": SANDBOX_WEBHOOK_SECRET,
        "BOOKING_LOG_FORMAT": "console",
    }
    process = subprocess.Popen(  # noqa: S603 - our own command
        [str(BIN / "booking-engine"), "sandbox"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(f"{url}/healthz", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the sandbox exited while starting"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the sandbox did not start within 60 s"
        # Polling a starting process over HTTP: there is no event to await.
        time.sleep(0.2)


def _clean_env() -> dict[str, str]:
    """This process's environment without any ``BOOKING_`` or ``TEMPORAL_`` setting."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BOOKING_", "TEMPORAL_"))
    }


@pytest.fixture
def configured(settings: Settings, jwks: JwksServer, sandbox_url: str) -> Settings:
    """The session's settings with everything the check can reach configured and up."""
    return settings.model_copy(
        update={
            "sandbox_url": sandbox_url,
            "sandbox_api_key": SecretStr(SANDBOX_KEY),
            "auth_jwks_url": jwks.url,
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
        }
    )


def _by_name(outcomes: list[Outcome]) -> dict[str, Outcome]:
    return {outcome.name: outcome for outcome in outcomes}


def _statuses(outcomes: list[Outcome]) -> dict[str, str]:
    return {outcome.name: outcome.status for outcome in outcomes}


UP = {
    "PostgreSQL": "ok",
    "Temporal": "ok",
    "Mail relay": "ok",
    "Sign-in": "ok",
    "Identity provider": "ok",
    "Payload keys": "ok",
    "Sandbox gateway": "ok",
    "Stripe": "skip",
    "Razorpay": "skip",
    "Paytm": "skip",
    "PayHere": "skip",
}


def test_the_command_says_ok_for_everything_configured_and_exits_0(
    configured: Settings, mail_sink: Any, tmp_path: Path
) -> None:
    """As an operator runs it: an ``ok`` line per configured check, ``skip`` for the rest, 0."""
    env = _clean_env() | {
        "BOOKING_ENV": "test",
        "BOOKING_DATABASE_URL": str(configured.database_url),
        "BOOKING_TEMPORAL_ADDRESS": str(configured.temporal_address),
        "BOOKING_SMTP_PORT": str(mail_sink.port),
        "BOOKING_JWT_SECRET": JWT_SECRET,
        "BOOKING_PAYLOAD_KEYS": PAYLOAD_KEYS,
        "BOOKING_AUTH_JWKS_URL": str(configured.auth_jwks_url),
        "BOOKING_AUTH_ISSUER": ISSUER,
        "BOOKING_AUTH_AUDIENCE": AUDIENCE,
        "BOOKING_SANDBOX_URL": str(configured.sandbox_url),
        "BOOKING_SANDBOX_API_KEY": SANDBOX_KEY,
        "BOOKING_SANDBOX_WEBHOOK_SECRET": SANDBOX_WEBHOOK_SECRET,
    }
    # In an empty directory: no .env of the checkout is read.
    done = subprocess.run(  # noqa: S603 - our own command
        [str(BIN / "booking-engine"), "check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    lines = out.splitlines()
    for name, status in UP.items():
        assert any(line.startswith(f"{status:<5} {name}") for line in lines), (name, out)
    database = make_url(str(configured.database_url)).database
    assert f"/{database}, schema at head (0016)" in out
    assert "all 7 search attributes present" in out
    assert "2 signing key(s) (ES256, RS256)" in out
    assert "2 key(s), t2 encrypts, t1 decrypt only" in out
    assert "skip  Stripe: no BOOKING_STRIPE_API_KEY\n" in out
    assert lines[-1].startswith("7 ok, 0 warning(s), 0 failed, 4 skipped: ready")
    assert "Traceback" not in out + done.stderr
    for secret in (JWT_SECRET, SANDBOX_KEY, SANDBOX_WEBHOOK_SECRET, *PAYLOAD_KEYS.split(",")):
        assert secret not in out + done.stderr
        assert secret.split(":")[-1] not in out + done.stderr


async def test_a_wrong_postgres_port_fails_that_line_and_the_rest_still_report(
    configured: Settings,
) -> None:
    """PostgreSQL refused: one FAIL line naming it (no password), every other check still ran."""
    password = "db-password-never-shown"
    wrong = f"postgresql+asyncpg://booking:{password}@127.0.0.1:{free_port()}/booking"

    outcomes = await run_checks(configured.model_copy(update={"database_url": wrong}))

    text_, code = report(outcomes)
    assert code == 1
    found = _by_name(outcomes)["PostgreSQL"]
    assert found.line().startswith("FAIL  PostgreSQL at 127.0.0.1:")
    assert found.line().endswith("/booking: connection refused")
    assert _statuses(outcomes) == UP | {"PostgreSQL": "FAIL"}
    assert password not in text_
    assert text_.splitlines()[-1].startswith("6 ok, 0 warning(s), 1 failed, 4 skipped: NOT READY")


async def test_an_unreachable_or_silent_jwks_fails_its_line(configured: Settings) -> None:
    """A key set nobody serves is refused; one that never answers fails within the bound."""
    closed = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"
    outcomes = await run_checks(configured.model_copy(update={"auth_jwks_url": closed}))
    assert _by_name(outcomes)["Identity provider"].line() == (
        f"FAIL  Identity provider key set at {closed}: connection refused"
    )
    assert report(outcomes)[1] == 1

    with silent_server() as url:
        outcomes = await run_checks(configured.model_copy(update={"auth_jwks_url": url}), timeout=2)
    line = _by_name(outcomes)["Identity provider"].line()
    assert line.startswith("FAIL  Identity provider key set at http://127.0.0.1:")
    assert line.endswith("timed out") or line.endswith("no answer within 2 s")


async def test_a_jwks_without_usable_keys_fails_its_line(configured: Settings) -> None:
    """A key set with only a shared-secret (HS256) key has nothing the engine may accept."""
    with JwksServer([]).running() as idp:
        outcomes = await run_checks(configured.model_copy(update={"auth_jwks_url": idp.url}))
    line = _by_name(outcomes)["Identity provider"].line()
    assert line.startswith("FAIL  Identity provider key set at ")
    assert "no usable signing key (accepted: ES256, EdDSA, RS256)" in line


@pytest.fixture
async def fresh_database(configured: Settings) -> AsyncIterator[str]:
    """A new, empty database on the session's PostgreSQL; dropped afterwards."""
    name = f"check_{uuid.uuid4().hex[:10]}"
    admin = create_engine(configured)
    try:
        async with admin.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(str(configured.database_url)).set(database=name)
        yield url.render_as_string(hide_password=False)
        async with admin.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def test_an_unmigrated_database_is_reported_not_at_head(
    configured: Settings, fresh_database: str
) -> None:
    """Never migrated, or behind: a warning saying the schema is not at head and what to run."""
    empty = configured.model_copy(update={"database_url": fresh_database})
    outcomes = await run_checks(empty)
    line = _by_name(outcomes)["PostgreSQL"].line()
    assert line.startswith("warn  PostgreSQL ")
    assert "schema is not at head: never migrated; run `booking-engine migrate`" in line

    # Alembic's env runs its own event loop: in a thread of its own.
    await asyncio.to_thread(command.upgrade, alembic_config(fresh_database), "0011")
    outcomes = await run_checks(empty)
    line = _by_name(outcomes)["PostgreSQL"].line()
    assert line.startswith("warn  PostgreSQL ")
    assert "schema is not at head: at 0011, head is 0016" in line
    # A warning is worth reading, not a failure: the deploy's migrate step upgrades it.
    assert report(outcomes)[1] == 0


async def test_a_database_migrated_by_newer_code_fails(
    configured: Settings, fresh_database: str
) -> None:
    """A revision this version does not know: the engine would run on a schema it cannot read."""
    engine = create_engine(configured, fresh_database)
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        )
        await connection.execute(text("INSERT INTO alembic_version VALUES ('0099')"))
    await engine.dispose()

    outcomes = await run_checks(configured.model_copy(update={"database_url": fresh_database}))

    line = _by_name(outcomes)["PostgreSQL"].line()
    assert line.startswith("FAIL  PostgreSQL ")
    assert "schema at 0099, a revision this version does not know (head 0016)" in line


async def test_temporal_unreachable_or_without_the_namespace_fails(configured: Settings) -> None:
    """A closed port is refused; a namespace the server lacks is named."""
    closed = f"127.0.0.1:{free_port()}"
    outcomes = await run_checks(configured.model_copy(update={"temporal_address": closed}))
    assert _by_name(outcomes)["Temporal"].line() == (
        f"FAIL  Temporal at {closed} (namespace default): connection refused"
    )

    outcomes = await run_checks(configured.model_copy(update={"temporal_namespace": "nowhere"}))
    line = _by_name(outcomes)["Temporal"].line()
    assert line.startswith("FAIL  Temporal at 127.0.0.1:")
    assert "NOT_FOUND" in line
    assert "nowhere" in line


class _Relay:
    """An aiosmtpd relay on 127.0.0.1 requiring STARTTLS, then a login."""

    def __init__(self, pki: Pki) -> None:
        self.port = free_port()
        self.messages = 0
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.cert_file, pki.key_file)
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="relay.test",
            authenticator=self._authenticate,
            auth_required=True,
            tls_context=context,
            require_starttls=True,
            auth_require_tls=True,
        )

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages += 1
        return "250 accepted"

    @staticmethod
    def _authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            RELAY_USER.encode(),
            RELAY_PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Relay, Pki]]:
    """A submission relay with a certificate of a CA made here."""
    pki = make_pki(tmp_path_factory.mktemp("check-pki"))
    relay = _Relay(pki)
    relay.controller.start()
    yield relay, pki
    relay.controller.stop()


async def test_the_mail_relay_is_checked_with_starttls_and_login_without_sending(
    configured: Settings, relay: tuple[_Relay, Pki]
) -> None:
    """STARTTLS and AUTH accepted: ok and nothing sent; a wrong password or port: FAIL."""
    server, pki = relay
    values = configured.model_dump() | {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_security": "starttls",
        "smtp_username": RELAY_USER,
        "smtp_password": SecretStr(RELAY_PASSWORD),
        "smtp_ca_file": pki.ca_file,
    }
    relayed = Settings.model_validate(values)

    line = _by_name(await run_checks(relayed))["Mail relay"].line()
    assert line.startswith(f"ok    Mail relay at 127.0.0.1:{server.port} (STARTTLS): TLSv1.")
    assert "login accepted; ready to send (nothing sent)" in line
    assert server.messages == 0

    wrong = Settings.model_validate(values | {"smtp_password": SecretStr("not-the-password")})
    outcomes = await run_checks(wrong)
    line = _by_name(outcomes)["Mail relay"].line()
    assert line.endswith("(STARTTLS): the relay refused the login (535)")
    assert "not-the-password" not in report(outcomes)[0]

    untrusted = Settings.model_validate(values | {"smtp_ca_file": None})
    line = _by_name(await run_checks(untrusted))["Mail relay"].line()
    assert line.startswith("FAIL  Mail relay at ")
    assert "TLS certificate not accepted" in line

    closed = configured.model_copy(update={"smtp_port": free_port()})
    line = _by_name(await run_checks(closed))["Mail relay"].line()
    assert line == f"FAIL  Mail relay at 127.0.0.1:{closed.smtp_port} (plain): connection refused"


async def test_gateways_are_checked_by_what_their_credentials_allow(configured: Settings) -> None:
    """A refused key fails; half the credentials fail; no read-only call is a warning, not ok."""
    gateways = configured.model_copy(
        update={
            "sandbox_api_key": SecretStr("not-the-sandbox-key"),
            "razorpay_key_id": "rzp_test_only_id",
            "paytm_mid": "MID123",
            "paytm_merchant_key": SecretStr("paytm-merchant-key-1"),
            "payhere_merchant_id": "1211149",
            "payhere_merchant_secret": SecretStr("payhere-merchant-secret"),
        }
    )

    outcomes = await run_checks(gateways)

    found = {o.name: o.line() for o in outcomes}
    sandbox = f"at {configured.sandbox_url}"
    assert found["Sandbox gateway"] == (
        f"FAIL  Sandbox gateway {sandbox}: credentials refused:"
        " sandbox list_transactions answered 401 (UNAUTHENTICATED)"
    )
    assert found["Razorpay"] == (
        "FAIL  Razorpay: BOOKING_RAZORPAY_KEY_SECRET missing (the gateway is off without it)"
    )
    assert found["Paytm"] == (
        "warn  Paytm at https://securegw.paytm.in: credentials present,"
        " not verifiable without a payment"
    )
    assert found["PayHere"] == (
        "warn  PayHere at https://www.payhere.lk: credentials present, not verifiable without"
        " a payment; refunds need BOOKING_PAYHERE_APP_ID and BOOKING_PAYHERE_APP_SECRET"
    )
    assert "not-the-sandbox-key" not in report(outcomes)[0]

    no_webhooks = configured.model_copy(update={"sandbox_webhook_secret": None})
    line = _by_name(await run_checks(no_webhooks))["Sandbox gateway"].line()
    assert line == (
        f"FAIL  Sandbox gateway at {configured.sandbox_url}: credentials accepted;"
        " no BOOKING_SANDBOX_WEBHOOK_SECRET: its payment webhooks would all be refused"
    )


async def test_payload_keys_and_sign_in_are_checked(configured: Settings) -> None:
    """Production without payload keys fails; no way to verify tokens fails; bad keys fail."""
    bare = configured.model_copy(
        update={
            "env": "production",
            "payload_keys": None,
            "jwt_secret": None,
            "auth_jwks_url": None,
        }
    )
    found = _by_name(await run_checks(bare))
    assert (
        found["Payload keys"]
        .line()
        .startswith("FAIL  Payload keys: BOOKING_PAYLOAD_KEYS is required")
    )
    assert (
        found["Sign-in"]
        .line()
        .startswith("FAIL  Sign-in: neither BOOKING_JWT_SECRET nor BOOKING_AUTH_JWKS_URL is set")
    )
    assert found["Identity provider"].line() == "skip  Identity provider: no BOOKING_AUTH_JWKS_URL"

    short = configured.model_copy(update={"payload_keys": SecretStr("k9:c2hvcnQ=")})
    found = _by_name(await run_checks(short))
    assert (
        found["Payload keys"].line()
        == "FAIL  Payload keys: payload key 'k9' is not 32 bytes (AES-256)"
    )


def test_a_settings_error_prints_the_one_line_message_of_every_command(tmp_path: Path) -> None:
    """Settings that do not validate: the CLI's usual message, exit 1, no traceback."""
    done = subprocess.run(  # noqa: S603 - our own command
        [str(BIN / "booking-engine"), "check"],
        env=_clean_env() | {"BOOKING_SMTP_PORT": "not-a-port"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("The settings are not valid:\n  BOOKING_SMTP_PORT: ")
    assert "Traceback" not in done.stderr


def test_the_example_in_the_docs_is_what_the_command_prints() -> None:
    """The example in docs/check.md: lines as ``Outcome.line`` writes them, ``report``'s summary."""
    doc = (Path(__file__).parents[2] / "docs" / "check.md").read_text()
    example = doc.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    outcomes = []
    for line in example[:-1]:
        status, _, rest = line.partition(" ")
        name = next(n for n in UP if rest.lstrip().startswith(n))
        outcome = Outcome(status, name, rest.lstrip()[len(name) :])  # type: ignore[arg-type]
        assert outcome.line() == line
        outcomes.append(outcome)

    printed, code = report(outcomes)

    assert printed.splitlines() == example
    assert code == 1
