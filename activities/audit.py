"""The audit log: who did what to which booking, and why."""

from __future__ import annotations

import structlog
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from core.db import SessionFactory
from models.db import AuditRecord
from models.payloads.audit import RecordAuditInput
from store import keys
from store.timeline import record_event

log = structlog.get_logger(__name__)


class AuditActivities:
    """Write audit records (and the matching timeline entry), once per action."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="record_audit")
    async def record_audit(self, request: RecordAuditInput) -> None:
        """Record ``actor`` doing ``action`` on the booking; a retry writes nothing twice."""
        key = keys.audit(request.booking_id, request.action)
        async with self._sessions() as session:
            await session.execute(
                insert(AuditRecord)
                .values(
                    actor=request.actor,
                    action=request.action,
                    booking_id=request.booking_id,
                    reason=request.reason,
                    key=key,
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )
            await record_event(
                session,
                request.booking_id,
                request.action,
                {"actor": request.actor, "reason": request.reason},
            )
            await session.commit()
        log.info("audit.recorded", booking_id=str(request.booking_id), action=request.action)
