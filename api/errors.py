"""The one mapping from failures to the error envelope."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError, RPCStatusCode

from core.db import DATA_EXCEPTION_CLASS, outage_cause, pg_error
from models.errors import BookingError, ErrorCode

log = structlog.get_logger(__name__)

# A database restart takes seconds: a client that honours this comes back after it.
DATABASE_RETRY_AFTER_SECONDS = 2
# A 503 of our own (a change or a create that outlasted its wait and goes on in its
# workflow, a gateway that is away): asked again after this, it is answered by then or
# waits its bound again. Every 503 says when to come back.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5

REQUEST_ID_HEADER = "X-Request-ID"
_HTTP_CODES = {
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}
# RESOURCE_EXHAUSTED: Temporal sheds load (rate limits, too many updates in flight).
_UNAVAILABLE = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}

# The one table from error codes to HTTP statuses.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BOOKING_NOT_FOUND: 404,
    ErrorCode.SLOT_NOT_FOUND: 404,
    ErrorCode.RESOURCE_NOT_FOUND: 404,
    ErrorCode.SLOT_UNAVAILABLE: 409,
    ErrorCode.INSUFFICIENT_FUNDS: 402,
    ErrorCode.BOOKING_NOT_CANCELLABLE: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.IDEMPOTENCY_KEY_IN_USE: 409,
    ErrorCode.INVALID_SIGNATURE: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_ACTIVE_HOLDS: 429,
    ErrorCode.TOPUP_LIMIT_EXCEEDED: 429,
    ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE: 503,
    # A reason on a FAILED booking (paid the wrong amount), never an HTTP answer.
    ErrorCode.PAYMENT_MISMATCH: 409,
    ErrorCode.DEPENDENCY_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


def request_id_of(request: Request) -> str:
    """The id of this request, as echoed in ``X-Request-ID``."""
    return str(getattr(request.state, "request_id", "")) or "unknown"


def error_response(
    request: Request, code: ErrorCode, message: str, status: int | None = None
) -> JSONResponse:
    """Render the documented envelope."""
    request_id = request_id_of(request)
    return JSONResponse(
        {"error": {"code": code.value, "message": message, "request_id": request_id}},
        status_code=status or HTTP_STATUS[code],
        headers={REQUEST_ID_HEADER: request_id},
    )


def _validation_message(exc: RequestValidationError) -> str:
    """Each error as ``field: what is wrong``; a rule across fields names its field itself."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if not where and ": " not in message:
            where = "body"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "The request is not valid."


def database_unavailable_response(request: Request, exc: BaseException) -> JSONResponse:
    """503 with ``Retry-After`` for a database outage: clients that retry 503 come back."""
    cause = outage_cause(exc) or "unavailable"
    log.warning(
        "dependency.unavailable", dependency="postgres", error=type(exc).__name__, cause=cause
    )
    response = error_response(
        request, ErrorCode.DEPENDENCY_UNAVAILABLE, "The database is unavailable; retry later."
    )
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def _methods_served(request: Request) -> list[str]:
    """Every method some route answers at this request's path."""
    methods: set[str] = set()
    pending = list(request.app.router.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            pending += included.routes
        served = getattr(route, "methods", None)
        if served and route.matches(request.scope)[0] != Match.NONE:
            methods |= set(served)
    return sorted(methods)


def _retry_after(exc: BookingError) -> int | None:
    """When to ask again: the error's own time, or for any 503 of ours the default."""
    if exc.retry_after is not None:
        return exc.retry_after
    return UNAVAILABLE_RETRY_AFTER_SECONDS if HTTP_STATUS[exc.code] == 503 else None


def install_error_handling(app: FastAPI) -> None:
    """Register the handlers that make every error an envelope.

    The last resort, an exception none of them answers, is
    :class:`api.request_context.RequestContext`'s.
    """

    @app.exception_handler(BookingError)
    async def booking_error(request: Request, exc: BookingError) -> JSONResponse:
        response = error_response(request, exc.code, exc.message)
        retry_after = _retry_after(exc)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, ErrorCode.VALIDATION_ERROR, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.VALIDATION_ERROR)
        if exc.status_code == 405:
            response = error_response(request, code, "Method not allowed.", 405)
            # RFC 9110 15.5.6: a 405 names every method the path serves (Starlette's
            # names only those of the first route that matched the path).
            response.headers["Allow"] = ", ".join(_methods_served(request))
            return response

        return error_response(request, code, str(exc.detail), exc.status_code)

    @app.exception_handler(DBAPIError)
    async def database_refused(request: Request, exc: DBAPIError) -> JSONResponse:
        # Last resort: the edge types refuse bad values first. A value PostgreSQL still
        # refuses (SQLSTATE class 22, data exception: asyncpg's reach SQLAlchemy as a
        # plain DBAPIError, not DataError) is the caller's, never a 500. The value
        # itself is not logged.
        if outage_cause(exc) is not None:
            return database_unavailable_response(request, exc)
        sqlstate = pg_error(exc).sqlstate or ""
        if sqlstate.startswith(DATA_EXCEPTION_CLASS):
            log.warning("request.unstorable_value", sqlstate=sqlstate)
            return error_response(
                request, ErrorCode.VALIDATION_ERROR, "A value in the request cannot be stored."
            )
        log.error("request.database_error", sqlstate=sqlstate, error=type(exc).__name__)
        return error_response(request, ErrorCode.INTERNAL, "Internal error.")

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(OSError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return database_unavailable_response(request, exc)

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status in _UNAVAILABLE:
            log.warning("dependency.unavailable", dependency="temporal", status=exc.status.name)
            response = error_response(
                request,
                ErrorCode.DEPENDENCY_UNAVAILABLE,
                "The workflow service is unavailable; retry later.",
            )
            response.headers["Retry-After"] = "1"
            return response
        log.error("temporal.rpc_error", status=exc.status.name)
        return error_response(request, ErrorCode.INTERNAL, "Internal error.")
