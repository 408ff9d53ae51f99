"""The OpenAPI document a frontend builds on, and ``/docs`` and ``/redoc`` without internet.

Every operation lists its error responses in the documented envelope
(``ErrorOut``), each status with the codes it can carry and an example: the
ones every route shares (422 validation, 429 rate limit, 500), the ones its
dependencies imply (401 without a token, 403 for operator routes, 404 for an
id in the path, 413 for a body) and its own (from :data:`ROUTE_ERRORS`).
FastAPI's own validation-error schema is replaced, so no response is
documented in a shape the API never sends.

Swagger UI and ReDoc are served from the assets the ``fastapi-offline``
package ships, so the pages load with no network at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from api.deps import current_principal, optional_principal, require_operator
from api.errors import HTTP_STATUS
from api.openapi_contract import METHOD_NOT_ALLOWED, add_examples, check_unique
from api.openapi_examples import add_request_examples
from api.rate_limits import UNLIMITED_PREFIXES
from api.routes.codec import codec_caller
from models.errors import DEFAULT_MESSAGES, ErrorCode

ASSETS = "/docs-assets"

# What each route can refuse with besides what every route shares.
ROUTE_ERRORS: dict[str, tuple[ErrorCode, ...]] = {
    "POST /v1/bookings": (
        ErrorCode.SLOT_NOT_FOUND,
        ErrorCode.RESOURCE_NOT_FOUND,
        ErrorCode.INSUFFICIENT_FUNDS,
        ErrorCode.SLOT_UNAVAILABLE,
        ErrorCode.IDEMPOTENCY_KEY_IN_USE,
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        ErrorCode.TOO_MANY_ACTIVE_HOLDS,
        ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/bookings/{booking_id}/cancel": (
        ErrorCode.BOOKING_NOT_CANCELLABLE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/bookings/{booking_id}/reschedule": (
        ErrorCode.INSUFFICIENT_FUNDS,
        ErrorCode.SLOT_UNAVAILABLE,
        ErrorCode.INVALID_STATE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/webhooks/{provider}": (
        ErrorCode.INVALID_SIGNATURE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/wallets/me/topups": (
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        ErrorCode.TOPUP_LIMIT_EXCEEDED,
        ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/wallets/{customer_id}/credits": (ErrorCode.IDEMPOTENCY_KEY_REUSED,),
    "POST /v1/ops/bookings/{booking_id}/refund": (
        ErrorCode.INVALID_STATE,
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/ops/bookings/{booking_id}/retry-meeting": (
        ErrorCode.INVALID_STATE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/ops/bookings/{booking_id}/retry-pending-steps": (
        ErrorCode.INVALID_STATE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/ops/bookings/{booking_id}/resend-notification": (
        ErrorCode.INVALID_STATE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/ops/topups/{topup_id}/refund": (
        ErrorCode.INVALID_STATE,
        ErrorCode.INSUFFICIENT_FUNDS,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    # A customer's customer_id filter naming someone else.
    "GET /v1/bookings": (ErrorCode.FORBIDDEN,),
    "POST /v1/ops/alerts/{alert_id}/resolve": (ErrorCode.INVALID_STATE,),
    "POST /v1/ops/outgoing-events/{event_id}/redeliver": (ErrorCode.INVALID_STATE,),
    "GET /readyz": (ErrorCode.DEPENDENCY_UNAVAILABLE,),
    # Manage links: the owner's routes' answers; a refused token is 401.
    "GET /v1/manage/{token}": (ErrorCode.BOOKING_NOT_FOUND,),
    "POST /v1/manage/{token}/cancel": (
        ErrorCode.BOOKING_NOT_CANCELLABLE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    "POST /v1/manage/{token}/reschedule": (
        ErrorCode.INSUFFICIENT_FUNDS,
        ErrorCode.SLOT_UNAVAILABLE,
        ErrorCode.INVALID_STATE,
        ErrorCode.DEPENDENCY_UNAVAILABLE,
    ),
    # Operators only (in make dev, anyone on the machine).
    "POST /codec/decode": (ErrorCode.FORBIDDEN,),
    "POST /codec/encode": (ErrorCode.FORBIDDEN,),
}
# The not-found code an id in the path gives.
PATH_IDS = {
    "booking_id": ErrorCode.BOOKING_NOT_FOUND,
    "slot_id": ErrorCode.SLOT_NOT_FOUND,
    "resource_id": ErrorCode.RESOURCE_NOT_FOUND,
    # A manage link's token that is not valid, or has expired.
    "token": ErrorCode.UNAUTHENTICATED,
}
SHARED = (ErrorCode.VALIDATION_ERROR, ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL)
BAD_BODY_STATUS = 400
BAD_BODY_MESSAGE = "There was an error parsing the body"

_VERBS = ("get", "post", "put", "patch", "delete")


def _needs(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _needs(d, call) for d in dependant.dependencies)


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, also those of included routers (FastAPI includes them lazily)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def _routes_needing(app: FastAPI, call: Callable[..., Any]) -> set[str]:
    """``"METHOD path"`` of every route that depends on ``call``."""
    return {
        f"{method} {route.path}"
        for route in api_routes(app.routes)
        if _needs(route.dependant, call)
        for method in route.methods or ()
    }


class _Access:
    """Who may call what: routes that need a token, take one (public reads), need an operator."""

    def __init__(self, app: FastAPI) -> None:
        self.required = _routes_needing(app, current_principal) | _routes_needing(app, codec_caller)
        self.optional = _routes_needing(app, optional_principal)
        self.operators = _routes_needing(app, require_operator)


def _codes_of(
    method: str, path: str, operation: dict[str, Any], access: _Access
) -> list[ErrorCode]:
    key = f"{method.upper()} {path}"
    codes = list(SHARED) + list(ROUTE_ERRORS.get(key, ()))
    if path.startswith(UNLIMITED_PREFIXES):
        codes.remove(ErrorCode.RATE_LIMITED)
    if key in access.required or key in access.optional:
        # A token given must be valid (401); 503: the identity provider's keys are out of reach.
        codes += [ErrorCode.UNAUTHENTICATED, ErrorCode.DEPENDENCY_UNAVAILABLE]
    if key in access.operators:
        codes.append(ErrorCode.FORBIDDEN)
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path" and parameter["name"] != "provider":
            codes.append(PATH_IDS.get(parameter["name"], ErrorCode.NOT_FOUND))
    if "requestBody" in operation or path.startswith("/v1/webhooks"):
        codes.append(ErrorCode.PAYLOAD_TOO_LARGE)
    return codes


def _message(code: ErrorCode, status: int) -> str:
    if status == BAD_BODY_STATUS and code == ErrorCode.VALIDATION_ERROR:
        return BAD_BODY_MESSAGE
    return DEFAULT_MESSAGES.get(code, code.value.replace("_", " ").lower())


def _responses(codes: list[ErrorCode], has_body: bool) -> dict[str, Any]:
    by_status: dict[int, list[ErrorCode]] = defaultdict(list)
    for code in dict.fromkeys(codes):
        by_status[HTTP_STATUS[code]].append(code)
    if has_body:
        # A body that is not UTF-8 cannot be parsed at all: 400, not 422.
        by_status[BAD_BODY_STATUS].append(ErrorCode.VALIDATION_ERROR)
    responses: dict[str, Any] = {}
    for status, group in sorted(by_status.items()):
        examples = {
            code.value: {
                "value": {
                    "error": {
                        "code": code.value,
                        "message": _message(code, status),
                        "request_id": "0f6a2c1e-5b7d-4a3e-9c8b-2d1e0f9a8b7c",
                    }
                }
            }
            for code in group
        }
        responses[str(status)] = {
            "description": ", ".join(code.value for code in group),
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorOut"},
                    "examples": examples,
                }
            },
        }
    return responses


def document(app: FastAPI) -> dict[str, Any]:
    """The API's OpenAPI document, every error response in the envelope (built once)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    access = _Access(app)
    for path, item in schema.get("paths", {}).items():
        for method in _VERBS:
            operation = item.get(method)
            if operation is None:
                continue
            if f"{method.upper()} {path}" not in access.required:
                # Every route shares the token-reading dependency; only these need a token.
                operation.pop("security", None)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            codes = _codes_of(method, path, operation, access)
            has_body = "requestBody" in operation
            # Ours replace any a route declared: the same envelope, every code named.
            responses.update(_responses(codes, has_body))
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    schema["components"].setdefault("responses", {})["MethodNotAllowed"] = METHOD_NOT_ALLOWED
    add_examples(schema)
    add_request_examples(schema)
    check_unique(schema)
    app.openapi_schema = schema
    return schema


def install_docs(app: FastAPI) -> None:
    """The OpenAPI document, and Swagger UI and ReDoc from packaged assets (no CDN)."""
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
