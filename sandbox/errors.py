"""The sandbox's error codes, their one table of HTTP statuses, and the error envelope.

Every error the sandbox answers is ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

from enum import StrEnum

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class SandboxErrorCode(StrEnum):
    """Every code the sandbox answers with."""

    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    RECEIPT_CONFLICT = "RECEIPT_CONFLICT"
    ALREADY_PAID = "ALREADY_PAID"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    REFUND_EXCEEDS_CAPTURE = "REFUND_EXCEEDS_CAPTURE"
    PAYMENT_NOT_CAPTURED = "PAYMENT_NOT_CAPTURED"
    UNAVAILABLE = "UNAVAILABLE"


HTTP_STATUS: dict[SandboxErrorCode, int] = {
    SandboxErrorCode.VALIDATION_ERROR: 422,
    SandboxErrorCode.UNAUTHENTICATED: 401,
    SandboxErrorCode.NOT_FOUND: 404,
    SandboxErrorCode.METHOD_NOT_ALLOWED: 405,
    SandboxErrorCode.RECEIPT_CONFLICT: 409,
    SandboxErrorCode.ALREADY_PAID: 409,
    SandboxErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    SandboxErrorCode.REFUND_EXCEEDS_CAPTURE: 422,
    SandboxErrorCode.PAYMENT_NOT_CAPTURED: 422,
    SandboxErrorCode.UNAVAILABLE: 503,
}


class SandboxError(Exception):
    """A request the sandbox refuses, with the code a client sees."""

    def __init__(self, code: SandboxErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_response(code: SandboxErrorCode, message: str) -> JSONResponse:
    """Render the envelope with the code's status."""
    headers = {"WWW-Authenticate": "Bearer"} if code is SandboxErrorCode.UNAUTHENTICATED else None
    return JSONResponse(
        {"error": {"code": code.value, "message": message}},
        status_code=HTTP_STATUS[code],
        headers=headers,
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "The request is not valid."


def install_error_handling(app: FastAPI) -> None:
    """Make every refusal, validation failure and unknown route an envelope."""

    @app.exception_handler(SandboxError)
    async def sandbox_error(_: Request, exc: SandboxError) -> JSONResponse:
        return error_response(exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(SandboxErrorCode.VALIDATION_ERROR, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(SandboxErrorCode.NOT_FOUND, "Not found.")
        if exc.status_code == 405:
            return error_response(SandboxErrorCode.METHOD_NOT_ALLOWED, "Method not allowed.")
        return JSONResponse(
            {"error": {"code": "HTTP_ERROR", "message": str(exc.detail)}},
            status_code=exc.status_code,
        )
