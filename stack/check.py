"""``booking-engine check``: connect to everything configured and say in words what works.

An operator runs it before the first deploy (and after any change of
settings). Each check is bounded in time and independent of the others, so
they run concurrently and one that hangs or fails does not hide the rest:

    PostgreSQL         connect, ``SELECT 1``, server version, schema at head or not
    Temporal           connect as the engine does, describe the namespace, search attributes
    Mail relay         connect, EHLO, STARTTLS and AUTH as configured, QUIT without sending
    Sign-in            at least one way to verify tokens (shared secret, identity provider)
    Identity provider  fetch the JWKS: how many signing keys, which algorithms
    Payload keys       parse, and an encrypt/decrypt round trip with every key
    Gateways           an authenticated read where the gateway has one; webhook secrets

Every line starts with ``ok``, ``warn``, ``FAIL`` or ``skip``; only ``FAIL``
makes the exit code non-zero. Lines name hosts, ports, databases and key ids,
never a password, key or token: the configured secrets are blanked out of
every line as a last guard.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

import aiosmtplib
import httpx
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest

from core.codec import EncryptionCodec, PayloadKeyError, parse_keys
from core.db import create_engine
from core.jwks import ALGORITHMS, MAX_BYTES, parse_key_set
from core.migrate import alembic_config
from core.settings import Settings
from core.temporal import connect, temporal_target
from integrations.gateways.base import GatewayError
from integrations.gateways.registry import build_gateways
from integrations.mail import relay_client
from models.search_attributes import SEARCH_ATTRIBUTES
from stack.check_words import blank, configured_secrets, explain

__all__ = ["CHECK_TIMEOUT", "Outcome", "report", "run_checks"]

# Seconds each check may take, connecting included.
CHECK_TIMEOUT = 10.0

Status = Literal["ok", "warn", "FAIL", "skip"]


@dataclass(frozen=True)
class Outcome:
    """What one check found: its status, what it checked, and what it found in words."""

    status: Status
    name: str
    words: str

    def line(self) -> str:
        """``ok    PostgreSQL 16.4 at db:5432/booking, schema at head (0016)``."""
        return f"{self.status:<5} {self.name}{self.words}"


def _ok(name: str, words: str) -> Outcome:
    return Outcome("ok", name, words)


def _warn(name: str, words: str) -> Outcome:
    return Outcome("warn", name, words)


def _fail(name: str, words: str) -> Outcome:
    return Outcome("FAIL", name, words)


def _skip(name: str, words: str) -> Outcome:
    return Outcome("skip", name, words)


async def run_checks(settings: Settings, *, timeout: float = CHECK_TIMEOUT) -> list[Outcome]:  # noqa: ASYNC109 - each check's own bound
    """Run every check concurrently, each within ``timeout`` seconds.

    Args:
        settings: What is configured; nothing else is read.
        timeout: Seconds allowed to each check.

    Returns:
        One outcome per check (the gateways one each), in a fixed order.
    """
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
        checks: list[tuple[str, Check]] = [
            ("PostgreSQL", lambda place: _postgres(settings, place)),
            ("Temporal", lambda place: _temporal(settings, place)),
            ("Mail relay", lambda place: _mail(settings, place)),
            ("Sign-in", lambda place: _sign_in(settings)),
            ("Identity provider", lambda place: _jwks(settings, http, place)),
            ("Payload keys", lambda place: _payload_keys(settings)),
        ]
        checks += [(name, _gateway_check(settings, http, name)) for name in _GATEWAYS]
        outcomes = await asyncio.gather(
            *(_bounded(_Place(name), check, timeout) for name, check in checks)
        )
    secrets = configured_secrets(settings)
    return [Outcome(o.status, o.name, blank(o.words, secrets)) for o in outcomes]


def report(outcomes: Iterable[Outcome]) -> tuple[str, int]:
    """The lines to print, a summary last, and the exit code (1 when anything failed)."""
    outcomes = list(outcomes)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "warn", "FAIL", "skip")}
    failed = counts["FAIL"] > 0
    summary = (
        f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['FAIL']} failed,"
        f" {counts['skip']} skipped: " + ("NOT READY, see the FAIL lines" if failed else "ready")
    )
    return "\n".join([*(o.line() for o in outcomes), summary]), int(failed)


class _Place:
    """Where a check connects, set as soon as it knows, for the words of any failure."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.where = ""


Check = Callable[[_Place], Awaitable[Outcome]]


async def _bounded(place: _Place, check: Check, timeout: float) -> Outcome:  # noqa: ASYNC109 - the bound applied here
    """``check`` within ``timeout`` seconds; whatever it raises becomes a FAIL line."""
    try:
        async with asyncio.timeout(timeout):
            return await check(place)
    except TimeoutError:
        return _fail(place.name, f"{place.where}: no answer within {timeout:g} s")
    except Exception as exc:
        return _fail(place.name, f"{place.where}: {explain(exc)}")


async def _postgres(settings: Settings, place: _Place) -> Outcome:
    name = "PostgreSQL"
    if settings.database_url is None:
        return _fail(name, ": BOOKING_DATABASE_URL is not set")
    url = make_url(settings.database_url)
    host = url.host or str(url.query.get("host", "localhost"))
    where = f" at {host}:{url.port or 5432}/{url.database or ''}"
    place.where = where
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            version = (await connection.execute(text("SHOW server_version"))).scalar_one()
            current = await connection.run_sync(_current_revisions)
    finally:
        await engine.dispose()
    found = f" {str(version).split()[0]}{where}"
    script = ScriptDirectory.from_config(alembic_config(settings.database_url))
    heads = set(script.get_heads())
    head = ", ".join(sorted(heads))
    if current == heads:
        return _ok(name, f"{found}, schema at head ({head})")
    migrate = "run `booking-engine migrate` (the deploy's migrate step does)"
    if not current:
        return _warn(name, f"{found}: schema is not at head: never migrated; {migrate}")
    known = {revision.revision for revision in script.walk_revisions()}
    at = ", ".join(sorted(current))
    if current <= known:
        return _warn(name, f"{found}: schema is not at head: at {at}, head is {head}; {migrate}")
    return _fail(
        name,
        f"{found}: schema at {at}, a revision this version does not know (head {head});"
        " is newer code migrating this database?",
    )


def _current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def _temporal(settings: Settings, place: _Place) -> Outcome:
    name = "Temporal"
    place.where = f" at {temporal_target(settings).describe()}"
    client = await connect(settings)
    # Where the client factory actually went (it may read the SDK's own configuration).
    namespace = client.namespace
    where = f" at {client.service_client.config.target_host} (namespace {namespace})"
    place.where = where
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    found = f" {info.server_version}{where}".replace("  ", " ")
    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    problems = []
    for attribute, kind in SEARCH_ATTRIBUTES.items():
        wanted = "INDEXED_VALUE_TYPE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()
        have = listed.custom_attributes.get(attribute)
        if have is None:
            problems.append(f"{attribute} ({kind}) is missing")
        elif IndexedValueType.Name(have) != wanted:
            problems.append(f"{attribute} is {IndexedValueType.Name(have)[19:]}, not {kind}")
    if problems:
        return _fail(
            name,
            f"{found}: search attributes: {'; '.join(problems)}"
            " (create them with `temporal operator search-attribute create`)",
        )
    return _ok(
        name,
        f"{found}, retention {_duration(retention.total_seconds())},"
        f" all {len(SEARCH_ATTRIBUTES)} search attributes present",
    )


def _duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    if days and not rest:
        return f"{days} d"
    return f"{seconds / 3600:g} h"


async def _mail(settings: Settings, place: _Place) -> Outcome:
    name = "Mail relay"
    relay = f"{settings.smtp_host}:{settings.smtp_port}"
    security = {"none": "plain", "starttls": "STARTTLS", "tls": "TLS"}[settings.smtp_security]
    where = f" at {relay} ({security})"
    place.where = where
    login = (
        (settings.smtp_username, settings.smtp_password.get_secret_value())
        if settings.smtp_username and settings.smtp_password is not None
        else None
    )
    client = relay_client(
        host=settings.smtp_host,
        port=settings.smtp_port,
        timeout=settings.smtp_timeout_seconds,
        security=settings.smtp_security,
        login=login,
        ca_file=settings.smtp_ca_file,
    )
    try:
        # Connecting says EHLO, upgrades and logs in as configured; leaving says QUIT.
        async with client:
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            tls = client.get_transport_info("ssl_object")
    except aiosmtplib.SMTPAuthenticationError as exc:
        return _fail(name, f"{where}: the relay refused the login ({exc.code})")
    except aiosmtplib.SMTPResponseException as exc:
        # Only the code: a relay's text may quote what it refused.
        return _fail(name, f"{where}: the relay answered {exc.code} ({type(exc).__name__})")
    words = [tls.version()] if tls is not None else []
    words.append("login accepted" if login else "no login")
    return _ok(name, f"{where}: {', '.join(words)}; ready to send (nothing sent)")


async def _sign_in(settings: Settings) -> Outcome:
    name = "Sign-in"
    ways = []
    if settings.jwt_secret is not None:
        ways.append("HS256 tokens signed with BOOKING_JWT_SECRET")
    if settings.auth_jwks_url is not None:
        ways.append(
            f"identity provider tokens (issuer {settings.auth_issuer},"
            f" audience {settings.auth_audience}, roles in {settings.auth_roles_claim!r})"
        )
    if not ways:
        return _fail(
            name,
            ": neither BOOKING_JWT_SECRET nor BOOKING_AUTH_JWKS_URL is set;"
            " every authenticated request would be refused",
        )
    return _ok(name, ": " + " and ".join(ways))


async def _jwks(settings: Settings, http: httpx.AsyncClient, place: _Place) -> Outcome:
    name = "Identity provider"
    if settings.auth_jwks_url is None:
        return _skip(name, ": no BOOKING_AUTH_JWKS_URL")
    parts = urlsplit(settings.auth_jwks_url)
    where = f" key set at {parts.scheme}://{parts.netloc}{parts.path}"
    place.where = where
    try:
        response = await http.get(settings.auth_jwks_url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        return _fail(name, f"{where}: {explain(exc)}")
    if response.status_code != 200:
        return _fail(name, f"{where}: answered HTTP {response.status_code}")
    if len(response.content) > MAX_BYTES:
        return _fail(name, f"{where}: answer larger than {MAX_BYTES} bytes, not a key set")
    try:
        published = response.json()
        keys = parse_key_set(published)
    except ValueError as exc:
        accepted = ", ".join(sorted(ALGORITHMS))
        return _fail(name, f"{where}: {exc} (accepted: {accepted})")
    algorithms = ", ".join(sorted({key.algorithm_name for key in keys.values()}))
    ignored = len(published["keys"]) - len(keys)
    note = f"; {ignored} other key(s) ignored" if ignored else ""
    return _ok(name, f"{where}: {len(keys)} signing key(s) ({algorithms}){note}")


async def _payload_keys(settings: Settings) -> Outcome:
    name = "Payload keys"
    try:
        spec = settings.payload_key_spec()
        if spec is None:
            return _warn(
                name,
                ": no BOOKING_PAYLOAD_KEYS: Temporal payloads are not encrypted"
                f" (allowed only because BOOKING_ENV={settings.env})",
            )
        keys = parse_keys(spec)
    except (RuntimeError, PayloadKeyError) as exc:
        return _fail(name, f": {exc}")
    probe = Payload(metadata={"encoding": b"binary/plain"}, data=b"booking-engine check")
    for key_id, key in keys.items():
        codec = EncryptionCodec({key_id: key})
        sealed = await codec.encode([probe])
        if sealed[0].data == probe.data or await codec.decode(sealed) != [probe]:
            return _fail(
                name, f": the round trip with key {key_id!r} does not give the payload back"
            )
    ids = list(keys)
    rest = f", {', '.join(ids[1:])} decrypt only" if len(ids) > 1 else ""
    return _ok(name, f": {len(ids)} key(s), {ids[0]} encrypts{rest}; AES-256-GCM round trip works")


# Each gateway: its name in the engine, the settings its API credentials come from, and the
# setting of its API's address.
_GATEWAYS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "Sandbox gateway": ("sandbox", ("sandbox_api_key",), "sandbox_base_url"),
    "Stripe": ("stripe", ("stripe_api_key",), "stripe_api_base"),
    "Razorpay": ("razorpay", ("razorpay_key_id", "razorpay_key_secret"), "razorpay_api_base"),
    "Paytm": ("paytm", ("paytm_mid", "paytm_merchant_key"), "paytm_api_base"),
    "PayHere": ("payhere", ("payhere_merchant_id", "payhere_merchant_secret"), "payhere_api_base"),
}
# The secret that verifies each gateway's webhooks, where it is not its API credentials.
_WEBHOOK_SECRETS = {
    "sandbox": "sandbox_webhook_secret",
    "stripe": "stripe_webhook_secret",
    "razorpay": "razorpay_webhook_secret",
}


def _gateway_check(settings: Settings, http: httpx.AsyncClient, name: str) -> Check:
    return lambda place: _gateway(settings, http, place)


async def _gateway(settings: Settings, http: httpx.AsyncClient, place: _Place) -> Outcome:
    name = place.name
    provider, fields, base = _GATEWAYS[name]
    env = [f"BOOKING_{field.upper()}" for field in fields]
    present = [bool(getattr(settings, field)) for field in fields]
    if not any(present):
        return _skip(name, f": no {' / '.join(env)}")
    if not all(present):
        missing = [e for e, p in zip(env, present, strict=True) if not p]
        return _fail(name, f": {' and '.join(missing)} missing (the gateway is off without it)")
    place.where = where = f" at {getattr(settings, base)}"
    webhook = _WEBHOOK_SECRETS.get(provider)
    unverifiable = ""
    if webhook is not None and getattr(settings, webhook) is None:
        unverifiable = f"; no BOOKING_{webhook.upper()}: its payment webhooks would all be refused"
    gateway = build_gateways(settings, http)[provider]
    # The read reconciliation makes, from now on: authenticated, and it changes nothing.
    try:
        listed = await gateway.list_transactions(datetime.now(UTC))
    except GatewayError as exc:
        refused = "credentials refused: " if exc.status_code in (401, 403) else ""
        return _fail(name, f"{where}: {refused}{exc}{unverifiable}")
    if unverifiable:
        return _fail(name, f"{where}: credentials accepted{unverifiable}")
    if listed is None:
        extra = ""
        if provider == "payhere" and not (settings.payhere_app_id and settings.payhere_app_secret):
            extra = "; refunds need BOOKING_PAYHERE_APP_ID and BOOKING_PAYHERE_APP_SECRET"
        return _warn(name, f"{where}: credentials present, not verifiable without a payment{extra}")
    return _ok(name, f"{where}: credentials accepted (an authenticated read of its transactions)")
