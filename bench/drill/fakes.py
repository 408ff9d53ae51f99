"""The third parties the drill serves itself, each with an on/off switch for its outage."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def third_parties(switches: dict[str, bool]) -> FastAPI:
    """Google Calendar, Stripe's lists and an events receiver, each failing while switched on."""
    app = FastAPI()
    meet = "https://meet.google.com/drl-test-one"

    @app.post("/calendar/v3/calendars/{calendar}/events")
    async def insert_event(calendar: str, request: Request) -> Any:
        if switches["google_down"]:
            return JSONResponse({"error": {"code": 503, "message": "backend"}}, status_code=503)
        body = await request.json()
        return {"id": body["id"], "status": "confirmed", "hangoutLink": meet}

    @app.get("/calendar/v3/calendars/{calendar}/events/{event_id}")
    async def get_event(calendar: str, event_id: str) -> Any:
        return {"id": event_id, "status": "confirmed", "hangoutLink": meet}

    @app.get("/v1/charges")
    @app.get("/v1/refunds")
    async def stripe_list() -> Any:
        if switches["stripe_down"]:
            error = {"type": "invalid_request_error", "message": "Invalid API Key provided"}
            return JSONResponse({"error": error}, status_code=401)
        return {"object": "list", "data": [], "has_more": False}

    @app.post("/hook")
    async def receive_event() -> Any:
        if switches["hook_down"]:
            return JSONResponse({"detail": "down"}, status_code=500)
        return {"ok": True}

    return app
