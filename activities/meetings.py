"""Meeting links for confirmed bookings. A failure here never touches the payment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import structlog
from sqlalchemy import update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import SessionFactory
from integrations.meetings import MeetingProvider, MeetingProviderError
from models.db import Booking
from models.domain import BookingStatus, MeetingStatus
from models.payloads.meetings import (
    CancelMeetingInput,
    CreateMeetingInput,
    MeetingLink,
    RecordMeetingAlertInput,
)
from store import keys
from store.timeline import record_event

log = structlog.get_logger(__name__)

MEETING_PROVIDER_ERROR = "MEETING_PROVIDER_ERROR"


class MeetingActivities:
    """Create meeting links through the resource's provider and record them."""

    def __init__(self, sessions: SessionFactory, providers: Mapping[str, MeetingProvider]) -> None:
        self._sessions = sessions
        self._providers = providers

    @activity.defn(name="create_meeting")
    async def create_meeting(self, request: CreateMeetingInput) -> MeetingLink:
        """Create the link, or move the booking's existing meeting, and mark it READY.

        Providers make a retried create return the same link.
        """
        provider = self._providers.get(request.provider)
        if provider is None:
            raise ApplicationError(
                f"meeting provider {request.provider!r} is not configured",
                type=MEETING_PROVIDER_ERROR,
                non_retryable=True,
            )
        async with self._sessions() as session:
            existing = await session.get(Booking, request.booking_id)
            external_id = existing.meeting_external_id if existing is not None else None
        try:
            # A booking that already has a meeting (it was moved) keeps it, at the new time.
            meeting = (
                await provider.move(external_id, request)
                if external_id is not None
                else await provider.create(request)
            )
        except MeetingProviderError as exc:
            log.warning(
                "meeting.create_failed",
                booking_id=str(request.booking_id),
                provider=request.provider,
                attempt=activity.info().attempt,
                retryable=exc.retryable,
            )
            raise ApplicationError(
                str(exc), type=MEETING_PROVIDER_ERROR, non_retryable=not exc.retryable
            ) from exc
        async with self._sessions() as session:
            # Only a booking still confirmed gets its link: one cancelled meanwhile stays
            # CANCELLED, and the meeting made for it is cancelled at once.
            ready = await session.execute(
                update(Booking)
                .where(
                    Booking.id == request.booking_id,
                    Booking.status == BookingStatus.CONFIRMED.value,
                )
                .values(
                    meeting_status=MeetingStatus.READY.value,
                    meeting_url=meeting.url,
                    meeting_external_id=meeting.external_id,
                    updated_at=datetime.now(UTC),
                )
                .returning(Booking.id)
            )
            if ready.first() is None:
                await session.commit()
                await self._cancel_quietly(provider, meeting.external_id, request.booking_id)
                return meeting
            await record_event(
                session, request.booking_id, "meeting.ready", {"provider": request.provider}
            )
            await session.commit()
        return meeting

    @staticmethod
    async def _cancel_quietly(
        provider: MeetingProvider, external_id: str, booking_id: object
    ) -> None:
        try:
            await provider.cancel(external_id)
        except MeetingProviderError:
            log.warning("meeting.orphan_left", booking_id=str(booking_id))

    @activity.defn(name="record_meeting_alert")
    async def record_meeting_alert(self, request: RecordMeetingAlertInput) -> None:
        """Raise an operator alert: the link is still missing after the retry bound."""
        async with self._sessions() as session:
            await session.execute(
                update(Booking)
                .where(Booking.id == request.booking_id)
                .values(meeting_status=request.status.value, updated_at=datetime.now(UTC))
            )
            await record_event(
                session,
                request.booking_id,
                "meeting.alert",
                {"message": request.alert or "meeting link creation keeps failing"},
                step=keys.meeting_alert_step(activity.info().workflow_run_id, request.alert),
            )
            await session.commit()
        log.error("meeting.alert", booking_id=str(request.booking_id), alert=request.alert)

    @activity.defn(name="cancel_meeting")
    async def cancel_meeting(self, request: CancelMeetingInput) -> None:
        """Cancel the booking's meeting at its provider (if it has one): it is CANCELLED."""
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id)
            if booking is None:
                return
            provider = self._providers.get(booking.meeting_provider)
            if provider is not None and booking.meeting_external_id is not None:
                try:
                    await provider.cancel(booking.meeting_external_id)
                except MeetingProviderError as exc:
                    raise ApplicationError(
                        str(exc), type=MEETING_PROVIDER_ERROR, non_retryable=not exc.retryable
                    ) from exc
            await session.execute(
                update(Booking)
                .where(Booking.id == request.booking_id)
                .values(meeting_status=MeetingStatus.CANCELLED.value, updated_at=datetime.now(UTC))
            )
            await record_event(
                session, booking.id, "meeting.cancelled", {"provider": booking.meeting_provider}
            )
            await session.commit()
