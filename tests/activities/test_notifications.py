"""Notification outbox: delivered once, failures recorded and retried, never failing a booking."""

from __future__ import annotations

import asyncio
import uuid
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.testing import ActivityEnvironment

from activities import notifications
from activities.notifications import NotificationActivities
from core.db import SessionFactory
from core.settings import Settings
from integrations.mail import EmailDeliveryError
from models.db import Booking
from models.domain import AttentionKind
from models.payloads import SendNotificationInput, SendNotificationResult
from stack.embedded import free_port
from stack.mailsink import MailSink
from store import alerts

from support.db import insert_confirmed_booking, outbox_of
from support.mail import text_of
from support.waiting import eventually


def _confirmation(booking_id: uuid.UUID) -> SendNotificationInput:
    return SendNotificationInput(booking_id=booking_id, kind="booking_confirmed")


async def _send(
    activities: NotificationActivities, request: SendNotificationInput
) -> SendNotificationResult:
    result: SendNotificationResult = await ActivityEnvironment().run(
        activities.send_notification, request
    )
    return result


async def test_confirmation_is_sent_once_even_when_the_activity_reruns(
    sessions: SessionFactory, settings: Settings, mail_sink: MailSink
) -> None:
    """A rerun after success finds the outbox row SENT and sends nothing more."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    activities = NotificationActivities(sessions, settings)

    first = await _send(activities, _confirmation(booking_id))
    second = await _send(activities, _confirmation(booking_id))

    assert (first.status, second.status) == ("SENT", "SENT")
    sent = [m for m in mail_sink.messages() if str(booking_id) in text_of(m)]
    assert len(sent) == 1
    assert sent[0]["Subject"] == "Your booking is confirmed"
    outbox = await outbox_of(sessions, booking_id)
    assert (outbox.status, outbox.attempts) == ("SENT", 1)


async def test_two_retries_at_once_send_one_mail(
    sessions: SessionFactory,
    settings: Settings,
    mail_sink: MailSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a failed attempt, two retries at once: the row's lock lets one send.

    The first retry's delivery is held until the other has reached the outbox
    row: blocked on its lock, or (were there no lock) at its own delivery,
    having read the row PENDING too. Then the other finds the row SENT.
    """
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    dead_smtp = settings.model_copy(update={"smtp_port": free_port()})
    with pytest.raises(EmailDeliveryError):
        await _send(NotificationActivities(sessions, dead_smtp), _confirmation(booking_id))
    deliver = notifications.send_email
    second_delivery = asyncio.Event()
    deliveries = 0

    async def lock_waiters() -> int:
        async with sessions() as session:
            return int(
                await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
                or 0
            )

    async def held(message: EmailMessage, **kwargs: Any) -> None:
        nonlocal deliveries
        deliveries += 1
        if deliveries == 1:
            blocked = asyncio.ensure_future(eventually(lock_waiters, within=30, every=0.01))
            arrived = asyncio.ensure_future(second_delivery.wait())
            _, pending = await asyncio.wait({blocked, arrived}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        else:
            second_delivery.set()
        await deliver(message, **kwargs)

    monkeypatch.setattr(notifications, "send_email", held)
    activities = NotificationActivities(sessions, settings)

    results = await asyncio.gather(
        *(_send(activities, _confirmation(booking_id)) for _ in range(2))
    )

    assert [r.status for r in results] == ["SENT", "SENT"]
    assert len([m for m in mail_sink.messages() if str(booking_id) in text_of(m)]) == 1
    outbox = await outbox_of(sessions, booking_id)
    assert (outbox.status, outbox.attempts) == ("SENT", 2)


async def test_failed_delivery_is_recorded_retried_then_marked_failed(
    sessions: SessionFactory, settings: Settings
) -> None:
    """SMTP down: the first attempt raises for a retry, the last returns FAILED; all recorded."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    dead_smtp = settings.model_copy(update={"smtp_port": free_port()})
    activities = NotificationActivities(sessions, dead_smtp)

    with pytest.raises(EmailDeliveryError):
        await _send(activities, _confirmation(booking_id))
    pending = await outbox_of(sessions, booking_id)
    final = await _send(activities, _confirmation(booking_id))

    assert (pending.status, pending.attempts) == ("PENDING", 1)
    assert pending.last_error
    assert final.status == "FAILED"
    failed = await outbox_of(sessions, booking_id)
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
    result = await _send(NotificationActivities(sessions, settings), _confirmation(booking_id))
    assert result.status == "SKIPPED"
    assert (await outbox_of(sessions, booking_id)).status == "SKIPPED"
