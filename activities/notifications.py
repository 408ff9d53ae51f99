"""Customer notifications through an outbox: every delivery is recorded, none fails a booking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.email import EmailDeliveryError, compose, send_email
from core.db import SessionFactory
from core.settings import Settings
from models.db import Booking, Notification
from models.flow import NotifyInput, NotifyResult

log = structlog.get_logger(__name__)

SUBJECTS = {
    "booking_rescheduled": "Your booking was moved",
    "payment_refunded": "Your payment was refunded",
    "booking_confirmed": "Your booking is confirmed",
    "booking_failed": "Your booking could not be completed",
    "booking_expired": "Your booking expired before payment",
    "booking_cancelled": "Your booking was cancelled",
}


def render_body(booking: Booking, kind: str) -> str:
    """Plain-text body of a notification (no PII beyond what the recipient gave us)."""
    lines = [
        SUBJECTS[kind] + ".",
        "",
        f"Booking: {booking.id}",
        f"When: {booking.starts_at.isoformat()} to {booking.ends_at.isoformat()}",
        f"Amount: {booking.amount} {booking.currency} (minor units)",
    ]
    if booking.meeting_url:
        lines.append(f"Meeting link: {booking.meeting_url}")
    if booking.reason:
        lines.append(f"Reason: {booking.reason}")
    return "\n".join(lines) + "\n"


class NotificationActivities:
    """Send notifications and keep their delivery status in the outbox."""

    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    @activity.defn(name="send_notification")
    async def send_notification(self, request: NotifyInput) -> NotifyResult:
        """Deliver one notification at least once.

        A failed attempt is recorded and raised so Temporal retries it with
        backoff; after ``notification_max_attempts`` the outbox row is FAILED
        and the result says so, so the booking goes on either way.
        """
        key = f"{request.booking_id}:{request.kind}"
        async with self._sessions() as session:
            booking = await session.get(Booking, request.booking_id)
            if booking is None:
                return NotifyResult(status="SKIPPED")
            recipient = (booking.contact or {}).get("email")
            await session.execute(
                insert(Notification)
                .values(
                    id=uuid.uuid4(),
                    booking_id=booking.id,
                    kind=request.kind,
                    channel="email",
                    recipient=recipient,
                    idempotency_key=key,
                    status="PENDING" if recipient else "SKIPPED",
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            outbox = (
                await session.execute(
                    select(Notification)
                    .where(Notification.idempotency_key == key)
                    .with_for_update()
                )
            ).scalar_one()
            if outbox.status in ("SENT", "SKIPPED"):
                await session.commit()
                return NotifyResult(status="SENT" if outbox.status == "SENT" else "SKIPPED")

            outbox.attempts += 1
            message = compose(
                to=str(recipient),
                sender=self._settings.mail_from,
                subject=SUBJECTS[request.kind],
                body=render_body(booking, request.kind),
                # A stable Message-ID lets mail clients drop an at-least-once duplicate.
                message_id=f"<{key.replace(':', '.')}@booking-engine>",
            )
            try:
                await send_email(
                    message, host=self._settings.smtp_host, port=self._settings.smtp_port
                )
            except EmailDeliveryError as exc:
                outbox.last_error = str(exc)[:500]
                exhausted = outbox.attempts >= self._settings.notification_max_attempts
                outbox.status = "FAILED" if exhausted else "PENDING"
                await session.commit()
                log.warning(
                    "notification.failed",
                    booking_id=str(booking.id),
                    kind=request.kind,
                    attempts=outbox.attempts,
                    exhausted=exhausted,
                )
                if exhausted:
                    return NotifyResult(status="FAILED")
                raise
            outbox.status = "SENT"
            outbox.sent_at = datetime.now(UTC)
            outbox.last_error = None
            await session.commit()
        log.info("notification.sent", booking_id=str(request.booking_id), kind=request.kind)
        return NotifyResult(status="SENT")
