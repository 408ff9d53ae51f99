"""Notification outbox: delivered once, failures recorded and retried, never failing a booking."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities
from core.db import SessionFactory
from core.settings import Settings
from integrations.mail import EmailDeliveryError
from models.db import Booking, Notification
from models.domain import AttentionKind
from models.payloads import SendNotificationInput
from stack.embedded import free_port
from stack.mailsink import MailSink
from store import alerts

from support.db import insert_confirmed_booking
from support.mail import text_of


async def _outbox(sessions: SessionFactory, booking_id: uuid.UUID) -> Notification:
    async with sessions() as session:
        return (
            await session.execute(select(Notification).where(Notification.booking_id == booking_id))
        ).scalar_one()


async def test_confirmation_is_sent_once_even_when_the_activity_reruns(
    sessions: SessionFactory, settings: Settings, mail_sink: MailSink
) -> None:
    """A rerun after success finds the outbox row SENT and sends nothing more."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    activities = NotificationActivities(sessions, settings)
    request = SendNotificationInput(booking_id=booking_id, kind="booking_confirmed")

    first = await ActivityEnvironment().run(activities.send_notification, request)
    second = await ActivityEnvironment().run(activities.send_notification, request)

    assert (first.status, second.status) == ("SENT", "SENT")
    sent = [m for m in mail_sink.messages() if str(booking_id) in text_of(m)]
    assert len(sent) == 1
    assert sent[0]["Subject"] == "Your booking is confirmed"
    outbox = await _outbox(sessions, booking_id)
    assert (outbox.status, outbox.attempts) == ("SENT", 1)


async def test_two_attempts_at_once_send_one_mail(
    sessions: SessionFactory, settings: Settings, mail_sink: MailSink
) -> None:
    """The outbox row's lock makes a second attempt wait for the first and find it SENT."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    activities = NotificationActivities(sessions, settings)
    request = SendNotificationInput(booking_id=booking_id, kind="booking_confirmed")

    results = await asyncio.gather(
        *(ActivityEnvironment().run(activities.send_notification, request) for _ in range(2))
    )

    assert [r.status for r in results] == ["SENT", "SENT"]
    assert len([m for m in mail_sink.messages() if str(booking_id) in text_of(m)]) == 1
    outbox = await _outbox(sessions, booking_id)
    assert (outbox.status, outbox.attempts) == ("SENT", 1)


async def test_failed_delivery_is_recorded_retried_then_marked_failed(
    sessions: SessionFactory, settings: Settings
) -> None:
    """SMTP down: the first attempt raises for a retry, the last returns FAILED; all recorded."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    dead_smtp = settings.model_copy(update={"smtp_port": free_port()})
    activities = NotificationActivities(sessions, dead_smtp)
    request = SendNotificationInput(booking_id=booking_id, kind="booking_confirmed")

    with pytest.raises(EmailDeliveryError):
        await ActivityEnvironment().run(activities.send_notification, request)
    pending = await _outbox(sessions, booking_id)
    final = await ActivityEnvironment().run(activities.send_notification, request)

    assert (pending.status, pending.attempts) == ("PENDING", 1)
    assert pending.last_error
    assert final.status == "FAILED"
    failed = await _outbox(sessions, booking_id)
    assert (failed.status, failed.attempts) == ("FAILED", settings.notification_max_attempts)
    async with sessions() as session:
        booking = await session.get(Booking, booking_id)
        kinds = await alerts.open_kinds(session, booking_id)
    assert booking is not None
    assert booking.status == "CONFIRMED"
    # Given up: a person is told.
    assert kinds == [AttentionKind.NOTIFICATION_FAILED]
    assert booking.needs_attention


async def test_booking_without_contact_is_skipped_and_recorded(
    sessions: SessionFactory, settings: Settings
) -> None:
    """No e-mail address: nothing is sent, and the outbox says SKIPPED."""
    booking_id = await insert_confirmed_booking(sessions, None)
    result = await ActivityEnvironment().run(
        NotificationActivities(sessions, settings).send_notification,
        SendNotificationInput(booking_id=booking_id, kind="booking_confirmed"),
    )
    assert result.status == "SKIPPED"
    assert (await _outbox(sessions, booking_id)).status == "SKIPPED"
