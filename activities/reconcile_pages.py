"""What every reconciliation job shares: its findings, and pages read with a heartbeat each.

A job reads in pages of ``page_size`` rows, each in its own short transaction,
and heartbeats after each page with where it got to. A retried attempt (the
worker died, the database went away) resumes from the last heartbeat instead
of the start, so a job's memory and its time to finish are bounded by a page,
not by the table.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client, WorkflowExecution

from models.domain import AttentionKind
from models.payloads.reconcile import ReconcileInput, ReconcileResult
from store import alerts

log = structlog.get_logger(__name__)

# A run reports at most this many findings in its result (every one has its alert).
REPORTED = 50


class Findings:
    """What one run found: each opens (or counts on) an alert; the first few are reported.

    Alerts are written through the session of the page being judged (``session``),
    and commit with it.
    """

    def __init__(self, session: AsyncSession | None = None) -> None:
        self.session = session
        self.found: list[str] = []
        self.count = 0

    async def add(
        self,
        kind: AttentionKind,
        subject: str,
        details: str,
        booking_id: uuid.UUID | None = None,
    ) -> None:
        """Open the ``kind`` alert about ``subject`` (or count one more occurrence)."""
        assert self.session is not None, "a finding is written through its page's session"
        await alerts.open_alert(self.session, kind, subject, details, booking_id=booking_id)
        self.count += 1
        if len(self.found) < REPORTED:
            self.found.append(f"{kind}: {details}")

    def result(self, request: ReconcileInput, checked: int) -> ReconcileResult:
        """The run's result (the first :data:`REPORTED` findings in words)."""
        log.info("reconcile.done", job=request.job, checked=checked, findings=self.count)
        return ReconcileResult(job=request.job, checked=checked, findings=self.found)


def resumed() -> dict[str, Any] | None:
    """Where an earlier attempt of this activity got to (its last heartbeat), if any."""
    details = activity.info().heartbeat_details
    if not details:
        return None
    state = details[0]
    return state if isinstance(state, dict) else None


def beat(state: dict[str, Any]) -> None:
    """Heartbeat after a page, with what a retried attempt needs to resume after it."""
    activity.heartbeat(state)


async def workflow_pages(
    temporal: Client, query: str, size: int, token: str | None = None
) -> AsyncIterator[tuple[Sequence[WorkflowExecution], str | None]]:
    """The visibility list of ``query`` one page at a time, each with the token of the next.

    ``token`` (base64, as a heartbeat carries it) resumes after a page already judged.
    """
    listing = temporal.list_workflows(
        query, page_size=size, next_page_token=base64.b64decode(token) if token else None
    )
    while True:
        await listing.fetch_next_page()
        following = listing.next_page_token
        yield (
            listing.current_page or [],
            base64.b64encode(following).decode() if following else None,
        )
        if not following:
            return
