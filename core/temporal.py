"""Temporal clients: where they connect, how, and with the engine's data converter.

Where and how come from the Temporal SDK's standard client configuration
(``temporalio.envconfig``), as for the Temporal CLI: ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS`` and ``TEMPORAL_TLS_*``,
``TEMPORAL_GRPC_META_*``, and the TOML profile that ``TEMPORAL_PROFILE`` and
``TEMPORAL_CONFIG_FILE`` name. ``BOOKING_TEMPORAL_ADDRESS`` and
``BOOKING_TEMPORAL_NAMESPACE`` win where set. With no address anywhere, the target is
the embedded dev server of ``make dev`` (``BOOKING_TEMPORAL_PORT``), in clear.

Errors, each a single line that names the setting (or the server) at fault::

    DeploymentProblem (core.settings)        the CLI prints these without a traceback
    ├── TemporalConfigError (ValueError)     the configuration cannot be used: a missing
    │                                        file, an unknown profile, a bad value
    └── TemporalUnreachable (ConnectionError) the server did not accept the connection
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, DataSource
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from core.codec import data_converter
from core.settings import DeploymentProblem, Settings
from models.errors import BookingError, ErrorCode

log = structlog.get_logger(__name__)

DEFAULT_NAMESPACE = "default"
# The values the SDK understands for TEMPORAL_TLS; it takes any other as "TLS on".
_TLS_SWITCH = {"true", "false", "1", "0"}
# Per TLS file of a profile: its name in the environment and in the TOML profile.
_TLS_FILES = {
    "client_cert": ("TEMPORAL_TLS_CLIENT_CERT", "client_cert"),
    "client_private_key": ("TEMPORAL_TLS_CLIENT_KEY", "client_key"),
    "server_root_ca_cert": ("TEMPORAL_TLS_SERVER_CA_CERT", "server_ca_cert"),
}


class TemporalConfigError(DeploymentProblem, ValueError):
    """The Temporal client configuration cannot be used; the message names the setting."""


class TemporalUnreachable(DeploymentProblem, ConnectionError):
    """The configured Temporal server did not accept the connection."""


@dataclass(frozen=True)
class TemporalTarget:
    """Where the engine's clients connect, and how: ``Client.connect``'s arguments."""

    address: str
    namespace: str
    # No address configured anywhere: the embedded dev server that `make dev` starts.
    embedded: bool
    api_key: str | None = field(default=None, repr=False)
    tls: bool | TLSConfig = field(default=False, repr=False)
    rpc_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """In words, without secrets: ``host:7233 (namespace prod, TLS, client certificate)``."""
        how = [f"namespace {self.namespace}"]
        if self.tls is not False:
            how.append("TLS")
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert is not None:
            how.append("client certificate")
        if self.api_key is not None:
            how.append("API key")
        return f"{self.address} ({', '.join(how)})"


def temporal_target(settings: Settings) -> TemporalTarget:
    """Resolve the configuration once: the profile, the precedence, the TLS files read.

    Raises:
        TemporalConfigError: A file that cannot be read, an unknown profile, a TOML error,
            a bad ``TEMPORAL_TLS``, a client certificate without its key (or the reverse).
    """
    env = settings.temporal_client_env
    profile = _load_profile(env)
    address = settings.temporal_address or profile.address
    tls: bool | TLSConfig = profile.api_key is not None  # the SDK's default: API keys need TLS
    if profile.tls is not None:
        tls = _tls_config(profile.tls, env)
    return TemporalTarget(
        address=address or f"127.0.0.1:{settings.temporal_port}",
        namespace=settings.temporal_namespace or profile.namespace or DEFAULT_NAMESPACE,
        embedded=address is None,
        api_key=profile.api_key,
        tls=tls,
        rpc_metadata=dict(profile.grpc_meta),
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client with the engine's converter (pydantic, payloads encrypted), as every client must.

    ``runtime``: the worker's, which serves its metrics; None for the default one.

    Raises:
        TemporalConfigError: The configuration cannot be used (see :func:`temporal_target`).
        TemporalUnreachable: The server did not accept the connection.
    """
    return await connect_to(temporal_target(settings), settings, runtime)


async def connect_to(
    target: TemporalTarget, settings: Settings, runtime: Runtime | None = None
) -> Client:
    """A client of ``target`` (resolved before) with the engine's converter.

    Raises:
        TemporalUnreachable: The server did not accept the connection.
    """
    try:
        return await Client.connect(
            target.address,
            namespace=target.namespace,
            api_key=target.api_key,
            tls=target.tls,
            rpc_metadata=target.rpc_metadata,
            data_converter=data_converter(settings.payload_key_spec()),
            runtime=runtime,
        )
    except RuntimeError as exc:  # the SDK's core reports every failure to connect so
        reason = _one_line(exc)
        raise TemporalUnreachable(
            f"Temporal at {target.describe()} did not accept the connection: {reason}"
            + _hint(target, reason)
        ) from exc


class TemporalConnection:
    """Connects on first use and keeps the client, so the API starts while Temporal is down.

    The configuration is resolved at once, so a wrong one stops the API at start-up.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.target = temporal_target(settings)
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The connected client.

        Raises:
            BookingError: ``DEPENDENCY_UNAVAILABLE`` when Temporal cannot be reached.
        """
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await connect_to(self.target, self._settings)
                    except Exception as exc:
                        # Any failure to connect means the dependency is unavailable.
                        log.warning("temporal.unreachable", reason=_one_line(exc))
                        raise BookingError(
                            ErrorCode.DEPENDENCY_UNAVAILABLE,
                            "The workflow service is unavailable; retry later.",
                        ) from exc
        return self._client


def _load_profile(env: Mapping[str, str]) -> ClientConfigProfile:
    config_file = env.get("TEMPORAL_CONFIG_FILE")
    # The SDK skips a config file that is not there; a named one must be.
    if config_file is not None and not Path(config_file).expanduser().is_file():
        raise TemporalConfigError(f"TEMPORAL_CONFIG_FILE: no such file: {config_file}")
    switch = env.get("TEMPORAL_TLS")
    if switch is not None and switch.lower() not in _TLS_SWITCH:
        raise TemporalConfigError(f"TEMPORAL_TLS: {switch!r} is not one of true, false, 1, 0")
    try:
        # Strict: a misspelt key in the profile would otherwise connect somewhere else.
        return ClientConfigProfile.load(override_env_vars=env, config_file_strict=True)
    except RuntimeError as exc:  # the SDK's ConfigError
        message = _one_line(exc)
        if "Profile" in message and "not found" in message:
            raise TemporalConfigError(
                f"TEMPORAL_PROFILE: {message} in {_config_file_name(env)}"
            ) from exc
        if "loading error" in message:
            raise TemporalConfigError(f"TEMPORAL_CONFIG_FILE: {message}") from exc
        raise TemporalConfigError(f"Temporal client configuration: {message}") from exc


def _tls_config(tls: ClientConfigTLS, env: Mapping[str, str]) -> bool | TLSConfig:
    if tls.disabled is True:
        return False
    files = {
        attribute: _read(getattr(tls, attribute), *names, env)
        for attribute, names in _TLS_FILES.items()
    }
    cert, key = files["client_cert"], files["client_private_key"]
    if (cert is None) != (key is None):
        present, missing = ("CERT", "KEY") if key is None else ("KEY", "CERT")
        raise TemporalConfigError(
            f"TEMPORAL_TLS_CLIENT_{missing}_PATH (or _DATA): required with"
            f" TEMPORAL_TLS_CLIENT_{present}_PATH (or _DATA): a client certificate needs its key"
        )
    return TLSConfig(
        domain=tls.server_name,
        server_root_ca_cert=files["server_root_ca_cert"],
        client_cert=cert,
        client_private_key=key,
    )


def _read(
    source: DataSource | None, variable: str, key: str, env: Mapping[str, str]
) -> bytes | None:
    """A TLS file's bytes, from its path or its data, checked to be PEM."""
    if source is None:
        return None
    kind = "PATH" if isinstance(source, Path) else "DATA"
    name = f"{variable}_{kind}"
    if name not in env:
        name = f"tls.{key}_{kind.lower()} of profile {env.get('TEMPORAL_PROFILE', 'default')!r}"
    if isinstance(source, Path):
        try:
            data = source.expanduser().read_bytes()
        except OSError as exc:
            raise TemporalConfigError(f"{name}: cannot read {source}: {exc.strerror}") from exc
    else:
        data = source.encode() if isinstance(source, str) else source
    if b"-----BEGIN " not in data:
        raise TemporalConfigError(f"{name}: not a PEM file (no -----BEGIN line)")
    return data


def _hint(target: TemporalTarget, reason: str) -> str:
    has_cert = isinstance(target.tls, TLSConfig) and target.tls.client_cert is not None
    if target.tls is False or has_cert or target.api_key is not None:
        return ""
    if "after connection" not in reason:  # TLS 1.3: refused once the handshake looked done
        return ""
    return (
        " (a cluster that requires a client certificate closes the connection so:"
        " TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)"
    )


def _config_file_name(env: Mapping[str, str]) -> str:
    return env.get("TEMPORAL_CONFIG_FILE", "the Temporal config file")


def _one_line(exc: BaseException) -> str:
    """The first line of an error and its last (where the TOML parser puts the reason)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip(" |^")]
    if not lines:
        return type(exc).__name__
    return lines[0] if len(lines) == 1 else f"{lines[0]}: {lines[-1]}"
