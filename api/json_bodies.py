"""A JSON request body names each key once: ``{"a": 1, "a": 2}`` is refused, not read as 2.

FastAPI parses bodies with ``json.loads``, which keeps the last of duplicate
keys without a word, so two clients (or a client and a proxy) could read one
body differently. :func:`refuse_duplicate_keys` is an app-wide dependency: it
reads the body FastAPI has already read (Starlette caches it) again, keys
checked, and answers 422 ``VALIDATION_ERROR`` naming the key. Gateways'
webhooks are exempt: what a gateway signs is stored as it is, whatever it holds.
"""

from __future__ import annotations

from fastapi import Request

from api.body_limit import WEBHOOK_PREFIX
from core import bounded_json
from models.errors import BookingError, ErrorCode

# json.loads manages about this depth itself; deeper bodies are the schema's to refuse.
_MAX_DEPTH = 900
_CHECKED_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SHOWN_KEY_LENGTH = 64


async def refuse_duplicate_keys(request: Request) -> None:
    """Refuse a JSON body in which an object names the same key twice.

    Raises:
        BookingError: VALIDATION_ERROR naming the key.
    """
    if request.method not in _CHECKED_METHODS or request.url.path.startswith(WEBHOOK_PREFIX):
        return
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower():
        return
    body = await request.body()
    if not body:
        return
    try:
        bounded_json.loads(body, max_depth=_MAX_DEPTH, unique_keys=True)
    except bounded_json.DuplicateKey as duplicate:
        # Shown escaped: a key may hold what a response cannot encode (a lone surrogate).
        key = duplicate.key[:_SHOWN_KEY_LENGTH].encode("utf-8", "backslashreplace").decode()
        raise BookingError(
            ErrorCode.VALIDATION_ERROR, f"{key}: the key appears more than once in an object"
        ) from None
    except ValueError:
        # Not JSON or out of bounds: FastAPI and the route's schema answer for it.
        return
