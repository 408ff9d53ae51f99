"""The words of ``booking-engine check``: a failure as an operator says it, secrets blanked."""

from __future__ import annotations

import socket
import ssl

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from temporalio.service import RPCError

from core.settings import Settings


def explain(exc: BaseException) -> str:
    """What went wrong, in a few words.

    Connection failures and refused certificates are named as an operator would
    say them, wherever they are in the chain of causes; anything else is the
    innermost cause's message on one line (drivers do not put passwords in their
    messages, and :func:`run_checks` blanks the configured secrets anyway).
    """
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for cause in chain:
        if isinstance(cause, RPCError):
            return f"{cause.status.name}: {cause.message}"[:300]
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, TimeoutError):
            return "timed out"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({cause.verify_message})"
    message = " ".join(str(chain[-1]).split()) or type(chain[-1]).__name__
    lowered = message.lower()
    if "connection refused" in lowered or "connect call failed" in lowered:
        return "connection refused"
    if "dns error" in lowered or "failed to lookup address" in lowered:
        return "host name not found"
    if isinstance(chain[-1], OSError) and chain[-1].strerror:
        return chain[-1].strerror
    return message[:300]


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret value configured, longest first, to be blanked out of any line."""
    found = [
        value.get_secret_value()
        for value in vars(settings).values()
        if isinstance(value, SecretStr) and value.get_secret_value()
    ]
    if settings.database_url is not None:
        password = make_url(settings.database_url).password
        if password:
            found.append(str(password))
    # Several payload keys or webhook secrets are one comma-separated setting.
    found += [part for value in list(found) for part in value.split(",") if len(part) >= 8]
    return sorted(set(found), key=len, reverse=True)


def blank(words: str, secrets: list[str]) -> str:
    """``words`` with every secret in ``secrets`` replaced by ``***``."""
    for secret in secrets:
        words = words.replace(secret, "***")
    return words
