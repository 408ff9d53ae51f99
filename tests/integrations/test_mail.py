"""Email composition and delivery against a real local SMTP sink."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from integrations.mail import EmailDeliveryError, compose, send_email
from integrations.mail_content import SUBJECTS
from models.domain import NotificationKind
from stack.mailsink import MailSink

RECIPIENT = "alice@example.com"


def free_port() -> int:
    """A port nothing listens on right now (aiosmtpd's controller cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    """A running sink storing into a fresh, not yet existing directory."""
    mail_sink = MailSink(tmp_path / "mail", "127.0.0.1", free_port())
    mail_sink.start()
    yield mail_sink
    mail_sink.stop()


def message(
    subject: str = "Your booking is confirmed", message_id: str = "<b1.confirmed@be>"
) -> EmailMessage:
    """A notification-shaped message to the test recipient."""
    return compose(
        to=RECIPIENT,
        sender="bookings@localhost",
        subject=subject,
        body="Booking: b1\n",
        message_id=message_id,
    )


async def test_sent_message_lands_in_sink(sink: MailSink) -> None:
    """A message sent with send_email is stored by the sink with its headers and body intact."""
    await send_email(message(), host=sink.host, port=sink.port)

    [received] = sink.messages()
    assert received["Subject"] == "Your booking is confirmed"
    assert received["To"] == RECIPIENT
    assert received["From"] == "bookings@localhost"
    assert received["Message-ID"] == "<b1.confirmed@be>"
    # The sink keeps the wire form, whose line ends are CRLF.
    assert received.get_content().splitlines() == ["Booking: b1"]
    assert [p.suffix for p in sink.directory.iterdir()] == [".eml"]


async def test_sink_returns_messages_in_arrival_order(sink: MailSink) -> None:
    """Several messages come back oldest first, each in its own file."""
    for n in range(3):
        await send_email(message(subject=f"n{n}"), host=sink.host, port=sink.port)

    assert [m["Subject"] for m in sink.messages()] == ["n0", "n1", "n2"]
    assert len(list(sink.directory.glob("*.eml"))) == 3


def test_compose_adds_missing_angle_brackets_to_message_id() -> None:
    """A bare message id is turned into a valid msg-id rather than sent malformed."""
    assert message(message_id="b1.confirmed@be")["Message-ID"] == "<b1.confirmed@be>"


def test_compose_rejects_header_injection() -> None:
    """A line break in a header value is refused, so a subject cannot smuggle in recipients."""
    with pytest.raises(ValueError, match="linefeed"):
        message(subject="hello\r\nBcc: mallory@example.com")


async def test_closed_port_raises_delivery_error_without_recipient() -> None:
    """Delivery to a port nobody listens on raises EmailDeliveryError that omits the address."""
    with pytest.raises(EmailDeliveryError) as caught:
        await send_email(message(), host="127.0.0.1", port=free_port(), timeout=5.0)

    assert RECIPIENT not in str(caught.value)
    assert caught.value.__cause__ is None


def test_every_notification_kind_has_a_subject() -> None:
    """Each kind the workflow can send renders: a missing subject would fail every retry."""
    assert set(NotificationKind) == set(SUBJECTS)
