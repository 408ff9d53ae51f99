"""Every request's id, access line, metrics and last-resort error envelope, in one place.

A pure ASGI middleware: it runs the app in the request's own task and wraps
only ``send``. Starlette's ``@app.middleware("http")`` (``BaseHTTPMiddleware``)
runs the app in a task group of its own and re-streams the body and the
response through memory streams; the engine's two such middlewares cost
about a third of the API's CPU for a refused create in a 1,000-request burst.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import REQUEST_ID_HEADER, error_response
from api.metrics import LATENCY, REQUESTS
from models.errors import ErrorCode

log = structlog.get_logger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_HEADER = REQUEST_ID_HEADER.lower().encode()


class RequestContext:
    """Name the request, answer the envelope for anything unhandled, log and count it.

    - ``X-Request-ID``: the caller's when it is safe to echo, else a new one; bound
      to the log context and echoed on the answer.
    - An exception no handler answered: logged with its stack, answered 500
      ``INTERNAL`` without one (unless the answer had already begun).
    - The access line (uvicorn's own is off): the path only, never the query
      string, which may carry what a client should not have put there; a path
      that carries a credential (a manage link's token) is logged by its route
      template.
    - ``booking_http_requests_total`` and ``booking_http_request_seconds`` by route
      template, never by raw path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (other ASGI events pass through)."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(_HEADER, b"").decode("latin-1")
        rid = incoming if _SAFE_REQUEST_ID.match(incoming) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status = 500
        answering = False

        async def named(message: Message) -> None:
            nonlocal status, answering
            if message["type"] == "http.response.start":
                answering = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
                message = {**message, "headers": [*headers, (_HEADER, rid.encode())]}
            await send(message)

        try:
            await self._app(scope, receive, named)
        except Exception:
            log.exception("request.unhandled", path=_loggable_path(scope))
            if answering:
                raise
            response = error_response(Request(scope), ErrorCode.INTERNAL, "Internal error.")
            await response(scope, receive, named)
        finally:
            elapsed = time.perf_counter() - started
            method, path = scope["method"], _loggable_path(scope)
            template = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(method, template).observe(elapsed)
            REQUESTS.labels(method, template, str(status)).inc()
            log.info(
                "request", method=method, path=path, status=status, ms=round(elapsed * 1000, 1)
            )


def _loggable_path(scope: Scope) -> str:
    """The request's path, or its route template where the path carries a token."""
    path: str = scope.get("path", "")
    if "/manage/" in path:
        return str(getattr(scope.get("route"), "path", "/manage/{token}"))
    return path
