"""Customer notifications through an outbox: every delivery is recorded, none fails a booking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from core.db import SessionFactory
from core.manage_links import link_for
from core.settings import Settings
from integrations.mail import EmailDeliveryError, compose, send_email
from integrations.mail_content import INVITES, invite, mail_context, render
from models.db import Notification
from models.domain import AttentionKind, NotificationKind, NotificationStatus
from models.payloads.notifications import SendNotificationInput, SendNotificationResult
from store import alerts, keys
from store.bookings import booking_with_resource
from store.moves import moved_from

log = structlog.get_logger(__name__)

# The outbox row, written, or found and locked when an earlier attempt wrote it: the
# no-op update takes the row lock as SELECT ... FOR UPDATE would, in the same statement.
# Built once; each attempt binds its values.
_row = insert(Notification).values(
    id=bindparam("id"),
    booking_id=bindparam("booking_id"),
    kind=bindparam("kind"),
    channel="email",
    recipient=bindparam("recipient"),
    idempotency_key=bindparam("key"),
    status=bindparam("status"),
)
_CLAIM = _row.on_conflict_do_update(
    index_elements=["idempotency_key"], set_={"idempotency_key": _row.excluded.idempotency_key}
).returning(Notification)
# The row written in another step's transaction, when the mail becomes owed.
_OWE = _row.on_conflict_do_nothing(index_elements=["idempotency_key"])


def _outbox_row(
    booking_id: uuid.UUID, kind: NotificationKind, recipient: str | None, key: str
) -> dict[str, object]:
    """A new outbox row's values: PENDING for a recipient, SKIPPED (and done) without one."""
    return {
        "id": uuid.uuid4(),
        "booking_id": booking_id,
        "kind": kind,
        "recipient": recipient,
        "key": key,
        "status": NotificationStatus.PENDING if recipient else NotificationStatus.SKIPPED,
    }


async def owe_notification(
    session: AsyncSession, booking_id: uuid.UUID, kind: NotificationKind, recipient: str | None
) -> None:
    """Write a notification's outbox row in the caller's transaction (the change it announces).

    PENDING for a recipient, for ``deliver`` to send; SKIPPED, and done, for
    a booking with no address to write to.
    """
    key = keys.notification(booking_id, kind)
    await session.execute(_OWE, _outbox_row(booking_id, kind, recipient, key))


class NotificationActivities:
    """Send notifications and keep their delivery status in the outbox."""

    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    def _login(self) -> tuple[str, str] | None:
        username, password = self._settings.smtp_username, self._settings.smtp_password
        if username is None or password is None:
            return None
        return username, password.get_secret_value()

    @activity.defn(name="send_notification")
    async def send_notification(self, request: SendNotificationInput) -> SendNotificationResult:
        """Deliver one notification at least once.

        A failed attempt is recorded and raised so Temporal retries it with
        backoff; after ``notification_max_attempts`` the outbox row is FAILED
        and the result says so, so the booking goes on either way.
        """
        return await self.deliver(request)

    async def deliver(
        self, request: SendNotificationInput, *, smtp_timeout: float | None = None
    ) -> SendNotificationResult:
        """One delivery attempt through the outbox (``send_notification`` without Temporal).

        ``smtp_timeout`` defaults to ``BOOKING_SMTP_TIMEOUT_SECONDS``. Raises
        ``EmailDeliveryError`` when the attempt failed and more are allowed. A
        permanent failure (the relay rejected the login) is given up at once:
        FAILED, with an alert, as when the attempts run out.
        """
        key = keys.notification(request.booking_id, request.kind, request.about)
        async with self._sessions() as session:
            found = await booking_with_resource(session, request.booking_id)
            if found is None:
                return SendNotificationResult(status=NotificationStatus.SKIPPED)
            booking, resource = found
            recipient = (booking.contact or {}).get("email")
            outbox = (
                await session.execute(_CLAIM, _outbox_row(booking.id, request.kind, recipient, key))
            ).scalar_one()
            if outbox.status in (NotificationStatus.SENT, NotificationStatus.SKIPPED):
                await session.commit()
                return SendNotificationResult(status=NotificationStatus(outbox.status))

            outbox.attempts += 1
            manage_url = link_for(self._settings, booking.id, booking.ends_at)
            previous = None
            if request.kind == NotificationKind.BOOKING_RESCHEDULED and request.about:
                previous = await moved_from(session, booking.id, request.about)
            context = mail_context(
                booking,
                resource,
                request.kind,
                refund=request.refund,
                charged=request.charged,
                about=request.about,
                manage_url=manage_url,
                previous=previous,
            )
            text, html = render(request.kind, context)
            method = INVITES.get(request.kind)
            message = compose(
                to=str(recipient),
                sender=self._settings.mail_from,
                subject=context.subject,
                body=text,
                html=html,
                calendar=(
                    invite(
                        booking,
                        resource,
                        method=method,
                        sequence=request.sequence,
                        organizer=self._settings.mail_from,
                        attendee=str(recipient),
                        attendee_name=context.name,
                        manage_url=manage_url,
                    ),
                    method,
                )
                if method
                else None,
                # A stable Message-ID lets mail clients drop an at-least-once duplicate.
                message_id=f"<{key.replace(':', '.')}@booking-engine>",
            )
            try:
                await send_email(
                    message,
                    host=self._settings.smtp_host,
                    port=self._settings.smtp_port,
                    timeout=smtp_timeout or self._settings.smtp_timeout_seconds,
                    security=self._settings.smtp_security,
                    login=self._login(),
                    ca_file=self._settings.smtp_ca_file,
                )
            except EmailDeliveryError as exc:
                outbox.last_error = str(exc)[:500]
                exhausted = (
                    exc.permanent or outbox.attempts >= self._settings.notification_max_attempts
                )
                outbox.status = (
                    NotificationStatus.FAILED if exhausted else NotificationStatus.PENDING
                )
                if exhausted:
                    await alerts.open_alert(
                        session,
                        AttentionKind.NOTIFICATION_FAILED,
                        f"notification:{key}",
                        f"the {request.kind} mail was not delivered after {outbox.attempts} "
                        f"attempt(s): {outbox.last_error}",
                        booking_id=booking.id,
                    )
                await session.commit()
                log.warning(
                    "notification.failed",
                    booking_id=str(booking.id),
                    kind=request.kind,
                    attempts=outbox.attempts,
                    exhausted=exhausted,
                    permanent=exc.permanent,
                )
                if exhausted:
                    return SendNotificationResult(status=NotificationStatus.FAILED)
                raise
            outbox.status = NotificationStatus.SENT
            outbox.sent_at = datetime.now(UTC)
            outbox.last_error = None
            await session.commit()
        log.info("notification.sent", booking_id=str(request.booking_id), kind=request.kind)
        return SendNotificationResult(status=NotificationStatus.SENT)
