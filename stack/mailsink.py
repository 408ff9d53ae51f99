"""A local SMTP server that keeps every message it receives as a ``.eml`` file.

For development and tests only: it accepts mail for anyone, relays nothing and
has no authentication.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _SaveHandler:
    """aiosmtpd handler writing each accepted message to the sink's directory."""

    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        # A blocking write is fine here: this loop runs in the controller's own
        # thread and serves nothing but the sink.
        self._sink.save(content)
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on ``host:port`` saving messages under ``directory``.

    aiosmtpd's controller runs the server in its own thread with its own event
    loop, so the sink works alongside synchronous and asynchronous callers alike.
    """

    def __init__(self, directory: Path, host: str, port: int) -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self._counter = itertools.count(1)
        # A fixed banner name: aiosmtpd would otherwise call socket.getfqdn(),
        # which can stall for seconds on hosts without working reverse DNS.
        self._controller = Controller(
            _SaveHandler(self), hostname=host, port=port, server_hostname="booking-mailsink"
        )

    def start(self) -> None:
        """Create the directory and start serving; returns once the server accepts mail.

        Raises:
            OSError: The address cannot be bound (for example, the port is in use).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()

    def stop(self) -> None:
        """Stop serving and wait for the server thread to end."""
        self._controller.stop()

    def save(self, content: bytes) -> Path:
        """Store one raw message; names sort in arrival order.

        Args:
            content: The message as received, headers and body.

        Returns:
            The path of the new ``.eml`` file.
        """
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{stamp}-{next(self._counter):06d}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        # Rename into place so readers never see a half-written .eml file.
        os.replace(partial, path)
        return path

    def messages(self) -> list[EmailMessage]:
        """Every stored message, oldest first (see :func:`read_messages`)."""
        return read_messages(self.directory)


def read_messages(directory: Path) -> list[EmailMessage]:
    """Every message a sink stored in ``directory``, oldest first.

    Returns:
        The messages, parsed with :data:`email.policy.default`.
    """
    parser = BytesParser(_class=EmailMessage, policy=default)
    paths = sorted(directory.glob("*.eml"))
    return [parser.parsebytes(path.read_bytes()) for path in paths]


def as_text(message: EmailMessage) -> str:
    """A message as a person reads it: the headers that matter, the plain text, the attachments."""
    lines = [f"{name}: {message[name]}" for name in ("From", "To", "Subject") if message[name]]
    body = message.get_body(("plain",))
    lines += ["", body.get_content().strip() if isinstance(body, EmailMessage) else "(no text)"]
    attached = [
        f"{part.get_filename() or 'unnamed'} ({part.get_content_type()})"
        for part in message.iter_attachments()
        if isinstance(part, EmailMessage)
    ]
    if attached:
        lines += ["", "Attached: " + ", ".join(attached)]
    return "\n".join(lines)
