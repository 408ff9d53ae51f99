"""CORS for the configured browser origins, silent toward every other origin.

Starlette's middleware answers a refused preflight with its allowed methods,
headers and max age all the same; a page on another origin learns nothing
from us: its preflight gets a bare 400 (``Vary: Origin`` only), its requests
no ``Access-Control-Expose-Headers``.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send


class OriginCORS(CORSMiddleware):
    """Starlette's CORS, with no ``Access-Control-*`` header for an origin not listed."""

    def preflight_response(self, request_headers: Headers) -> Response:
        """The usual preflight answer for a listed origin; a bare 400 for any other."""
        if not self.is_allowed_origin(origin=request_headers["origin"]):
            return PlainTextResponse(
                "Disallowed CORS origin", status_code=400, headers={"Vary": "Origin"}
            )
        return super().preflight_response(request_headers)

    async def simple_response(
        self, scope: Scope, receive: Receive, send: Send, request_headers: Headers
    ) -> None:
        """The usual answer; no exposed headers for an origin that is not listed."""
        origin = request_headers.get("origin")
        if origin is not None and not self.is_allowed_origin(origin=origin):
            await self.app(scope, receive, send)
            return
        await super().simple_response(scope, receive, send, request_headers)
