"""Reading the mails the sink kept."""

from __future__ import annotations

from email.message import EmailMessage

from icalendar import Calendar


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a (possibly multipart) message."""
    body = message.get_body(("plain",))
    assert body is not None, "the message has no plain-text part"
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    """The HTML alternative of a message."""
    body = message.get_body(("html",))
    assert body is not None, "the message has no HTML part"
    return str(body.get_content())


def invite_of(message: EmailMessage) -> Calendar | None:
    """The calendar invite attached to a message, parsed (None: the message has none)."""
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return Calendar.from_ical(payload)
    return None
