"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import ServicesDep
from api.metrics import REGISTRY, refresh_gauges

log = structlog.get_logger(__name__)

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
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
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition; the engine-wide gauges are read now (kept as they were if not)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), services.sessions() as session:
            await refresh_gauges(session)
    except Exception:  # A scrape still answers while PostgreSQL is away.
        log.warning("metrics.gauges_unavailable")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
