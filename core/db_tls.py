"""libpq's TLS parameters in ``BOOKING_DATABASE_URL``, for asyncpg.

One URL configures TLS for the API, the worker and the migrations alike, in
the words operators know from ``psql``: ``sslmode`` (or ``ssl``, SQLAlchemy's
asyncpg spelling), ``sslrootcert``, ``sslcert``, ``sslkey``, ``sslpassword``
and ``sslcrl``. SQLAlchemy hands a URL's query to ``asyncpg.connect`` as
keyword arguments, and asyncpg takes ``ssl`` but none of the file parameters,
so :func:`split_tls` takes them out of the URL and builds the TLS context
they describe, as libpq would: ``verify-full`` checks the chain and the host
name, ``verify-ca`` the chain only, ``require`` encrypts (and checks the chain
when a root certificate is given, as libpq does). ``sslrootcert=system`` trusts
the system's store. Without files in the URL the mode goes to asyncpg as it
is (which reads ``PGSSLROOTCERT`` or ``~/.postgresql/root.crt``, as libpq).
"""

from __future__ import annotations

import errno
import ssl
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_VERIFYING = ("verify-ca", "verify-full")
_FILES = ("sslrootcert", "sslcert", "sslkey", "sslpassword", "sslcrl")


def split_tls(url: str | URL) -> tuple[URL, dict[str, Any]]:
    """The URL without libpq's TLS parameters, and asyncpg's connect arguments for them.

    Args:
        url: A SQLAlchemy asyncpg URL, e.g.
            ``postgresql+asyncpg://u@db.internal/booking?sslmode=verify-full&sslrootcert=/ca.pem``.

    Returns:
        The URL to give SQLAlchemy, and ``{"ssl": ...}`` (empty when the URL says
        nothing of TLS: asyncpg's default, ``prefer``).

    Raises:
        ValueError: An unknown mode, two modes that disagree, or a file the mode would
            ignore.
        OSError: A certificate or key file cannot be read.
    """
    parsed = make_url(url)
    query = dict(parsed.query)
    modes = {_single(name, query.pop(name)) for name in ("sslmode", "ssl") if name in query}
    files = {name: _single(name, query.pop(name)) for name in _FILES if name in query}
    if not modes and not files:
        return parsed, {}
    if len(modes) > 1:
        raise ValueError(f"the database URL's sslmode and ssl disagree: {sorted(modes)}")
    mode = modes.pop() if modes else "prefer"
    if mode not in MODES:
        raise ValueError(f"the database URL's sslmode {mode!r} is not one of {', '.join(MODES)}")
    stripped = parsed.set(query=query)
    if not files:
        return stripped, {"ssl": False if mode == "disable" else mode}
    if mode not in ("require", *_VERIFYING):
        raise ValueError(
            f"sslmode={mode} reads no certificate files ({', '.join(sorted(files))}):"
            " use sslmode=verify-full (or verify-ca, require)"
        )
    if mode in _VERIFYING and "sslrootcert" not in files:
        raise ValueError(
            f"sslmode={mode} with certificate files in the URL needs sslrootcert"
            " (a CA file, or 'system' for the system's trust store)"
        )
    for name in ("sslrootcert", "sslcert", "sslkey", "sslcrl"):
        path = files.get(name)
        if path is not None and path != "system" and not Path(path).is_file():
            raise FileNotFoundError(
                errno.ENOENT, f"the database URL's {name} is not a readable file", path
            )
    try:
        return stripped, {"ssl": _context(mode, files)}
    except ssl.SSLError as exc:
        raise ValueError(f"the database URL's certificate files cannot be used: {exc}") from exc


def _single(name: str, value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        raise ValueError(f"the database URL gives {name} more than once")
    return value


def _context(mode: str, files: dict[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    root = files.get("sslrootcert")
    # libpq: "require" with a root certificate verifies the chain, as verify-ca.
    context.check_hostname = mode == "verify-full"
    if root is None:
        context.verify_mode = ssl.CERT_NONE
    elif root == "system":
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.load_verify_locations(cafile=root)
    if "sslcrl" in files:
        context.load_verify_locations(cafile=files["sslcrl"])
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    if "sslcert" in files:
        password = files.get("sslpassword")
        context.load_cert_chain(
            files["sslcert"], keyfile=files.get("sslkey"), password=lambda: password or ""
        )
    elif "sslkey" in files:
        raise ValueError("the database URL gives sslkey without sslcert")
    # PostgreSQL 17's direct TLS negotiation checks the protocol name; asyncpg sets it too.
    context.set_alpn_protocols(["postgresql"])
    return context
