"""Where a checkout sends the customer's browser back: checked against the allowed origins.

A ``return_url`` is the frontend's page the customer comes back to after paying
or declining. It must lie under one of the configured browser origins (same
scheme, host and port; any path), so the engine is never an open redirect. The
checkout adds what happened as query parameters, keeping the page's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MAX_LENGTH", "Outcome", "origin_of", "refusal", "with_query"]

MAX_LENGTH = 2048
Outcome = Literal["paid", "declined"]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL without userinfo, or None if it has none.

    The host is lowercased and the default port filled in, so
    ``https://Shop.example.com:443/x`` and ``https://shop.example.com`` agree.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if "@" in parts.netloc:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def refusal(url: str, origins: Iterable[str]) -> str | None:
    """Why ``url`` may not be a return URL, or None when it lies under one of ``origins``.

    Args:
        url: The return URL a client sent.
        origins: The allowed browser origins (``BOOKING_CORS_ORIGINS``).

    Returns:
        A message naming the rule broken, or None.
    """
    if len(url) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    if any(char.isspace() or ord(char) < 0x20 or char == "\\" for char in url):
        return "must not contain spaces, control characters or backslashes"
    wanted = origin_of(url)
    if wanted is None:
        return "must be an absolute http or https URL without user information"
    allowed = {origin_of(origin) for origin in origins}
    if wanted not in allowed:
        return "must lie under one of the allowed origins (BOOKING_CORS_ORIGINS)"
    return None


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query string (replacing any of the same name).

    >>> with_query("https://shop.example.com/done?lang=en", booking_id="b1", outcome="paid")
    'https://shop.example.com/done?lang=en&booking_id=b1&outcome=paid'
    """
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query = urlencode([*kept, *params.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
