"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import ServicesDep
from api.errors import REQUEST_ID_HEADER, error_response, request_id_of
from api.metrics import REGISTRY, refresh_gauges
from models.errors import ErrorCode

log = structlog.get_logger(__name__)

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, services: ServicesDep) -> JSONResponse:
    """Whether PostgreSQL and Temporal are reachable, each named."""

    async def database() -> str:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return "ok"

    async def temporal() -> str:
        client = await services.temporal.client()
        await client.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT))
        return "ok"

    checks = {}
    for name, probe in (("database", database), ("temporal", temporal)):
        try:
            checks[name] = await asyncio.wait_for(probe(), CHECK_TIMEOUT)
        except Exception as exc:
            checks[name] = f"unavailable: {type(exc).__name__}"
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    # The error envelope (so a client reads every error alike), with what is down.
    response = error_response(
        request, ErrorCode.DEPENDENCY_UNAVAILABLE, "A dependency is unavailable; retry later."
    )
    body = {**json.loads(bytes(response.body)), "status": "unavailable", "checks": checks}
    return JSONResponse(body, status_code=503, headers={REQUEST_ID_HEADER: request_id_of(request)})


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus text exposition format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition; the engine-wide gauges are read now (kept as they were if not)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), services.sessions() as session:
            await refresh_gauges(session)
    except Exception:  # A scrape still answers while PostgreSQL is away.
        log.warning("metrics.gauges_unavailable")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
