"""The one settings object. Nothing else in the project reads ``os.environ``.

Besides the ``BOOKING_*`` variables it keeps the Temporal SDK's own ``TEMPORAL_*``
variables (``temporal_client_env``) for ``core/temporal.py``, which hands them to the
SDK's environment configuration: the SDK then reads no environment of its own.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from core.loop import EventLoop
from core.settings_values import is_loopback, parse_offsets

# How mail reaches the relay: in clear, upgraded with STARTTLS, or TLS from the start.
SmtpSecurity = Literal["none", "starttls", "tls"]

_PLACEHOLDER_SECRETS = {"changeme", "changethis", "secret", "dev", "test", ""}


class Settings(BaseSettings):
    """Every setting, from ``BOOKING_*`` environment variables or ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="BOOKING_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["dev", "test", "production"] = "production"
    data_dir: Path = Path(".data")

    database_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    # Test each pooled connection before use (one empty statement per checkout), so a
    # PostgreSQL restart or failover costs no request. Off saves a few milliseconds per read
    # and none a booking could measure (docs/performance-notes.md); a connection PostgreSQL dropped
    # then fails its first statement, which invalidates the whole pool: that request
    # answers 503 and activities retry it.
    db_pre_ping: bool = True
    # FastAPI's own OpenTelemetry spans, metrics and logs per request, for a deployment that
    # configures an OpenTelemetry SDK. Off, the API skips the per-request check for a
    # configured provider (about a tenth of a refused create's CPU); the engine's own
    # metrics are Prometheus (/metrics) either way.
    opentelemetry: bool = False

    # Where the engine's Temporal clients connect (core/temporal.py, docs/temporal-connection.md):
    # these two win over the Temporal SDK's TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE; with
    # neither set, the embedded dev server on BOOKING_TEMPORAL_PORT and namespace "default".
    temporal_address: str | None = None
    temporal_namespace: str | None = None
    # The TEMPORAL_* variables (the environment's, then .env's), gathered by
    # _TemporalEnvironment below: API key, TLS, profile, config file, ...
    temporal_client_env: dict[str, str] = Field(default_factory=dict, repr=False)
    task_queue: str = "bookings"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    sandbox_port: int = 8090
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    # How the relay is reached: in clear (the dev sink, mailpit), STARTTLS on a plain port
    # (587) or TLS from the first byte (465). With TLS the certificate and the host name are
    # always verified, against BOOKING_SMTP_CA_FILE or else the system's trust store.
    smtp_security: SmtpSecurity = "none"
    smtp_username: str | None = None
    # Validated even when unset: a username without its password is a mistake.
    smtp_password: SecretStr | None = Field(default=None, validate_default=True)
    smtp_ca_file: Path | None = None
    # Seconds allowed for connecting to the relay and for each exchange with it.
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "bookings@localhost"

    jwt_secret: SecretStr | None = None
    # The identity provider's tokens (core/identity.py, docs/identity-provider.md): its key set
    # (https, or http on a loopback host), and the issuer and audience its tokens must name.
    auth_jwks_url: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    # Dotted path to the claim with the caller's role(s), a string or a list
    # ("realm_access.roles", "cognito:groups"); a claim named by the whole path wins.
    auth_roles_claim: str = Field(default="role", min_length=1)
    auth_operator_role: str = Field(default="operator", min_length=1)
    # Clock skew allowed on exp, nbf and iat, for every token.
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # A token whose exp is further than this from now is refused (exp must be a number).
    auth_max_token_lifetime_seconds: int = Field(default=86400, ge=60)
    # AES-256-GCM keys of Temporal payloads, "id:base64key,..."; the first encrypts.
    payload_keys: SecretStr | None = None
    # Browser origins allowed to call the API (the Temporal UI, for the codec endpoint).
    cors_origins: list[str] = Field(default_factory=list)
    meeting_secret: SecretStr | None = None
    # Manage links in mails (core/manage_links.py): their key (unset: derived from the JWT
    # secret) and the base customers' browsers reach the API at (unset: api_host:api_port).
    manage_link_secret: SecretStr | None = None
    public_base_url: str | None = None

    hold_ttl_seconds: int = Field(default=600, ge=30)
    # Requests per minute, shared by all API processes; 0 turns a limit off.
    rate_limit_per_customer: int = Field(default=120, ge=0)
    rate_limit_per_address: int = Field(default=1200, ge=0)
    # Unpaid bookings (HELD, AWAITING_PAYMENT) one customer may hold at once.
    max_active_holds: int = Field(default=3, ge=1, le=1000)
    idempotency_ttl_days: int = Field(default=7, ge=7)
    create_timeout_seconds: float = Field(default=30.0, gt=0)
    # How long a cancel or reschedule call waits for its workflow before answering 503.
    change_timeout_seconds: float = Field(default=60.0, gt=0)
    # On shutdown the worker stops polling, then waits this long for running activities.
    worker_drain_seconds: float = Field(default=10.0, ge=0)
    # The worker's Prometheus endpoint (the Temporal SDK's and the engine's metrics); 0: off.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Worker tuning; unset, the Temporal SDK's defaults (1000 cached workflows, 100 workflow
    # tasks at once). 0 cached workflows turns the sticky cache off: every workflow task replays.
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    worker_max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2)
    # Python's collector in the API and the worker (core/collector.py): what start-up built
    # is frozen out of its walks, and a young collection runs per this many new containers
    # (Python's 700 walk a worker's cached workflows several times a second). 0: Python's.
    gc_threshold: int = Field(default=20_000, ge=0)
    # The API's, the worker's and `make dev`'s event loop (core/loop.py).
    event_loop: EventLoop = "uvloop"
    # Request bodies over this are refused unread (413); gateway webhooks have their own 1 MiB.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    meeting_provider: Literal["jitsi", "google"] = "jitsi"
    jitsi_base_url: str = "https://meet.jit.si"
    google_calendar_id: str = "primary"
    google_access_token: SecretStr | None = None
    google_api_base_url: str = "https://www.googleapis.com/calendar/v3"
    meeting_alert_after_seconds: int = Field(default=1800, ge=1)

    notification_max_attempts: int = Field(default=8, ge=1)
    # Reminder mails before a booking's start: durations such as "24h,1h" (d, h, m, s); "" none.
    reminder_offsets: str = "24h,1h"

    # Run workflow code in Temporal's sandbox (fresh module state per run and
    # runtime checks for non-deterministic calls). The tests always use it;
    # see docs/determinism.md for when a worker may run without it.
    workflow_sandbox: bool = True

    sandbox_url: str | None = None
    # What a customer's browser uses for checkout pages, when it differs from sandbox_url.
    sandbox_public_url: str | None = None
    sandbox_api_key: SecretStr | None = None
    sandbox_webhook_url: str | None = None
    sandbox_webhook_secret: SecretStr | None = None
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    razorpay_key_id: str | None = None
    razorpay_key_secret: SecretStr | None = None
    razorpay_api_base: str = "https://api.razorpay.com"
    # Paytm (India): merchant id and key (the key signs and verifies checksums).
    paytm_mid: str | None = None
    paytm_merchant_key: SecretStr | None = None
    paytm_website: str = "DEFAULT"
    paytm_api_base: str = "https://securegw.paytm.in"
    paytm_callback_url: str | None = None
    # PayHere (Sri Lanka): merchant id and secret (checkout hash, md5sig); the Merchant
    # API's app id and secret for refunds.
    payhere_merchant_id: str | None = None
    payhere_merchant_secret: SecretStr | None = None
    payhere_app_id: str | None = None
    payhere_app_secret: SecretStr | None = None
    payhere_api_base: str = "https://www.payhere.lk"
    gateway_max_attempts: int = Field(default=5, ge=1)
    late_payment_window_seconds: int = Field(default=7 * 86400, ge=0)
    stripe_webhook_secret: SecretStr | None = None
    razorpay_webhook_secret: SecretStr | None = None
    events_webhook_url: str | None = None
    # Signs outgoing booking events (``Booking-Signature``); required when the URL is set.
    events_webhook_secret: SecretStr | None = None
    events_max_attempts: int = Field(default=12, ge=1)
    events_backoff_seconds: float = Field(default=10.0, gt=0)
    events_max_backoff_seconds: float = Field(default=3600.0, gt=0)
    events_poll_seconds: float = Field(default=2.0, gt=0)
    # Development only: let events go to loopback and private addresses (SSRF guard off).
    events_allow_private_targets: bool = False

    # Wallet top-ups (minor units of the top-up's currency): per top-up, and per customer a day.
    topup_min_amount: int = Field(default=100, ge=1)
    topup_max_amount: int = Field(default=10_000_000, ge=1)
    topup_daily_limit: int = Field(default=20_000_000, ge=1)

    # Reconciliation (Temporal Schedules created by the worker): what is newer than the grace
    # is still settling; how far back gateways are compared; a day's credits that are a spike.
    # Whether each worker creates (or updates) the reconciliation schedules when it starts.
    reconcile_schedules: bool = True
    reconcile_grace_seconds: int = Field(default=600, ge=0)
    reconcile_lookback_hours: int = Field(default=48, ge=1, le=24 * 90)
    credit_spike_amount: int = Field(default=10_000_000, ge=1)

    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, and the Temporal SDK's variables after what is passed in."""
        temporal = _TemporalEnvironment(settings_cls, env_settings, dotenv_settings)
        return init_settings, temporal, env_settings, dotenv_settings, file_secret_settings

    @field_validator("temporal_address", "temporal_namespace", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # ``BOOKING_TEMPORAL_ADDRESS: ${TEMPORAL_ADDRESS:-}`` in a compose file means "not set".
        return None if value == "" else value

    @field_validator("jwt_secret", "meeting_secret", "manage_link_secret", "events_webhook_secret")
    @classmethod
    def _reject_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.lower() in _PLACEHOLDER_SECRETS or len(raw) < 32:
            raise ValueError("must be a real secret of at least 32 characters")
        return value

    @field_validator("smtp_username", "smtp_password", "smtp_ca_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # A compose file's ``BOOKING_SMTP_PASSWORD: ${SMTP_PASSWORD:-}`` means "none".
        return None if value == "" else value

    @field_validator("smtp_password")
    @classmethod
    def _password_over_tls(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.data.get("smtp_username") is not None:
                raise ValueError("BOOKING_SMTP_USERNAME is set: its password is required too")
            return None
        if info.data.get("smtp_username") is None:
            raise ValueError("needs BOOKING_SMTP_USERNAME (the login it belongs to)")
        host = info.data.get("smtp_host", "")
        if info.data.get("smtp_security") == "none" and not is_loopback(host):
            raise ValueError(
                "SMTP AUTH needs BOOKING_SMTP_SECURITY=starttls or tls: over a plain connection"
                f" the password would cross the network in clear (only a loopback relay, not"
                f" {host!r}, may take it so)"
            )
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_for_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and info.data.get("smtp_security") == "none":
            raise ValueError("is only used with BOOKING_SMTP_SECURITY=starttls or tls")
        return value

    @field_validator("auth_jwks_url")
    @classmethod
    def _check_jwks_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and is_loopback(parts.hostname):
            return value
        raise ValueError("must be an https URL (http only on a loopback host such as 127.0.0.1)")

    @model_validator(mode="after")
    def _jwks_needs_issuer_and_audience(self) -> Self:
        if self.auth_jwks_url is not None and not (self.auth_issuer and self.auth_audience):
            raise ValueError(
                "BOOKING_AUTH_ISSUER and BOOKING_AUTH_AUDIENCE are required with"
                " BOOKING_AUTH_JWKS_URL"
            )
        return self

    @field_validator("reminder_offsets")
    @classmethod
    def _check_offsets(cls, value: str) -> str:
        parse_offsets(value)
        return value

    @property
    def reminder_offsets_seconds(self) -> list[int]:
        """The reminder offsets in seconds, longest first."""
        return parse_offsets(self.reminder_offsets)

    def enabled_gateways(self) -> set[str]:
        """Payment providers with credentials configured."""
        enabled = set()
        if self.sandbox_api_key is not None:
            enabled.add("sandbox")
        if self.stripe_api_key is not None:
            enabled.add("stripe")
        if self.razorpay_key_id and self.razorpay_key_secret is not None:
            enabled.add("razorpay")
        if self.paytm_mid and self.paytm_merchant_key is not None:
            enabled.add("paytm")
        if self.payhere_merchant_id and self.payhere_merchant_secret is not None:
            enabled.add("payhere")
        return enabled

    @property
    def sandbox_base_url(self) -> str:
        """Where the engine reaches the sandbox gateway."""
        return self.sandbox_url or f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def sandbox_webhook_target(self) -> str:
        """Where the sandbox gateway delivers its webhooks (the engine's API)."""
        return self.sandbox_webhook_url or f"http://127.0.0.1:{self.api_port}/v1/webhooks/sandbox"

    def require_jwt_secret(self) -> str:
        """Return the JWT signing secret, or fail loudly when none is configured."""
        if self.jwt_secret is None:
            raise RuntimeError(
                "BOOKING_JWT_SECRET is required (make dev generates one in the data dir)"
            )
        return self.jwt_secret.get_secret_value()

    def require_token_verification(self) -> None:
        """Fail loudly when no kind of token could be verified.

        Raises:
            RuntimeError: Neither ``BOOKING_JWT_SECRET`` nor ``BOOKING_AUTH_JWKS_URL`` is set.
        """
        if self.jwt_secret is None and self.auth_jwks_url is None:
            raise RuntimeError(
                "BOOKING_JWT_SECRET or BOOKING_AUTH_JWKS_URL is required"
                " (make dev generates a secret in the data dir)"
            )

    def payload_key_spec(self) -> str | None:
        """The payload keys; required outside ``dev`` and ``test``, so production encrypts.

        Raises:
            RuntimeError: In production without ``BOOKING_PAYLOAD_KEYS``.
        """
        if self.payload_keys is not None:
            return self.payload_keys.get_secret_value()
        if self.env == "production":
            raise RuntimeError(
                "BOOKING_PAYLOAD_KEYS is required: Temporal must hold no personal data in clear"
                " (make dev generates one in the data dir)"
            )
        return None

    def require_events_webhook_secret(self) -> str:
        """Return the secret that signs booking events, or fail loudly when none is configured."""
        if self.events_webhook_secret is None:
            raise RuntimeError(
                "BOOKING_EVENTS_WEBHOOK_SECRET is required when BOOKING_EVENTS_WEBHOOK_URL is set"
                " (make dev generates one in the data dir)"
            )
        return self.events_webhook_secret.get_secret_value()

    def meeting_key(self) -> bytes:
        """Key for meeting room names: its own secret, else one derived from the JWT secret."""
        if self.meeting_secret is not None:
            return self.meeting_secret.get_secret_value().encode()
        if self.jwt_secret is None:
            raise RuntimeError(
                "BOOKING_MEETING_SECRET (or BOOKING_JWT_SECRET) is required to name meeting rooms"
            )
        return hmac.new(
            self.require_jwt_secret().encode(), b"meeting-room-names", hashlib.sha256
        ).digest()


class DeploymentProblem(Exception):
    """Something an operator fixes in the configuration or around it, told in one line.

    The message names the setting (or the server) at fault, so the CLI prints it
    without a traceback.
    """


class _TemporalEnvironment(PydanticBaseSettingsSource):
    """The ``TEMPORAL_*`` variables, kept whole as ``temporal_client_env``.

    They belong to the Temporal SDK (its environment configuration reads them, with
    the profile file they may name), so they are not fields of their own. Taken from
    the sources that read the environment and ``.env``, the environment winning; a
    variable set empty counts as unset, as for the ``BOOKING_*`` ones.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        env: PydanticBaseSettingsSource,
        dotenv: PydanticBaseSettingsSource,
    ) -> None:
        super().__init__(settings_cls)
        self._sources = [s for s in (dotenv, env) if isinstance(s, EnvSettingsSource)]

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        """Unused: the whole mapping is one value (see ``__call__``)."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """``{"temporal_client_env": {...}}``; names upper-case, as the SDK expects them."""
        found: dict[str, str] = {}
        for source in self._sources:  # .env first, so the environment overwrites it
            for name, value in source.env_vars.items():
                if name.upper().startswith("TEMPORAL_") and value:
                    found[name.upper()] = value
        return {"temporal_client_env": found}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
