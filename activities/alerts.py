"""Alerts from a booking's saga: opened when a step needs a person, settled when it clears."""

from __future__ import annotations

import structlog
from temporalio import activity

from core.db import SessionFactory
from models.payloads.alerts import OpenAlertInput, SettleAlertInput
from store import alerts, keys
from store.timeline import record_event

log = structlog.get_logger(__name__)


class AlertActivities:
    """Open and settle a booking's alerts (one open alert per kind and booking)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="open_alert")
    async def open_alert(self, request: OpenAlertInput) -> None:
        """Open (or count again) the booking's ``kind`` alert; its timeline says so once."""
        async with self._sessions() as session:
            await alerts.open_alert(
                session,
                request.kind,
                str(request.booking_id),
                request.details,
                booking_id=request.booking_id,
            )
            await record_event(
                session,
                request.booking_id,
                "operator.attention",
                {"kind": request.kind, "reason": request.details[: alerts.DETAILS_LIMIT]},
                step=keys.attention_step(f"{request.kind}:{request.details}"),
            )
            await session.commit()
        log.error("booking.needs_attention", booking_id=str(request.booking_id), kind=request.kind)

    @activity.defn(name="settle_alert")
    async def settle_alert(self, request: SettleAlertInput) -> None:
        """Resolve the booking's open ``kind`` alert as the engine (the step went through)."""
        async with self._sessions() as session:
            await alerts.resolve_by_engine(session, request.booking_id, request.kind, request.note)
            await session.commit()
        log.info("booking.alert_settled", booking_id=str(request.booking_id), kind=request.kind)
