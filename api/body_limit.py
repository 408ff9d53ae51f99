"""Request bodies are capped before they are read: over the cap is 413, in the envelope.

A pure ASGI middleware, so the cap holds whatever reads the body (FastAPI's
JSON parsing, the webhook route's raw read). A declared ``Content-Length``
over the cap is answered at once, unread; a body without one (chunked) is
counted as it streams and refused at the first chunk past the cap, by an
HTTP 413 error raised into the reader and rendered by the error handlers.
Memory stays within the cap either way.

(Starlette's ``RequestBodyLimitMiddleware`` answers in plain text and
replaces any later response, so it cannot give the documented envelope.)
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.errors import ErrorCode

WEBHOOK_PREFIX = "/v1/webhooks/"
# The contract's cap for gateway webhooks: a gateway's event is far smaller.
WEBHOOK_MAX_BYTES = 1024 * 1024


def too_large_message(limit: int) -> str:
    """What a refused caller reads."""
    return f"The request body is larger than {limit} bytes."


class PayloadTooLarge(HTTPException):
    """The body grew past its cap while it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


class BodyLimit:
    """Refuse bodies over ``max_bytes`` (webhooks: 1 MiB) with 413 ``PAYLOAD_TOO_LARGE``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    def limit_for(self, path: str) -> int:
        """The cap for a request to ``path``."""
        return WEBHOOK_MAX_BYTES if path.startswith(WEBHOOK_PREFIX) else self._max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection with its body counted against the path's cap."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            # The request-id middleware (outside this one) has named the request.
            await _refuse(send, limit, str(scope.get("state", {}).get("request_id", "")))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(limit)
            return message

        await self._app(scope, counted, send)


async def _refuse(send: Send, limit: int, request_id: str) -> None:
    body = json.dumps(
        {
            "error": {
                "code": ErrorCode.PAYLOAD_TOO_LARGE.value,
                "message": too_large_message(limit),
                "request_id": request_id,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
