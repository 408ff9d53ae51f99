"""Notification mail on the wire: composing a message and sending it through an SMTP relay.

What each mail says is :mod:`integrations.mail_content`'s.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path

import aiosmtplib

from core.settings import SmtpSecurity

# Seconds allowed for connecting to the SMTP server and for each exchange.
SMTP_TIMEOUT = 10.0


class EmailDeliveryError(Exception):
    """Sending failed. The message names the failure, never the recipient's address.

    ``permanent``: another attempt with the same settings cannot succeed and may
    do harm (a rejected login, retried, gets the account locked), so the outbox
    gives up at once and tells an operator.
    """

    def __init__(
        self, message: str, *, smtp_code: int | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.smtp_code = smtp_code
        self.permanent = permanent


def compose(
    *,
    to: str,
    sender: str,
    subject: str,
    body: str,
    message_id: str,
    html: str | None = None,
    calendar: tuple[bytes, str] | None = None,
) -> EmailMessage:
    """Build a message: plain text, with an HTML alternative and a calendar invite if given.

    Args:
        to: The recipient's address.
        sender: The ``From`` address.
        subject: The subject line.
        body: The plain-text body.
        message_id: A stable RFC 5322 msg-id, so that a resend after an ambiguous
            failure can be recognised as a duplicate; angle brackets are added if missing.
        html: The same message as HTML (``multipart/alternative``).
        calendar: An iCalendar body and its method (``REQUEST``, ``CANCEL``), attached
            as ``invite.ics``.

    Returns:
        The message, ready for :func:`send_email`.

    Raises:
        ValueError: A header value contains a line break (header injection).
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id if message_id.startswith("<") else f"<{message_id}>"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    if calendar is not None:
        ics, method = calendar
        message.add_attachment(
            ics,
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={"method": method},
        )
    return message


@lru_cache(maxsize=8)
def _tls_context(ca_file: str | None, _changed: int) -> ssl.SSLContext:
    """Verify the relay: certificate chain and host name, against ``ca_file`` or the system store.

    Cached per file and modification time: reading the system store costs
    milliseconds per mail, and a replaced CA file is read again.
    """
    return ssl.create_default_context(cafile=ca_file)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The client TLS context for the relay (certificate and host name always verified).

    Args:
        ca_file: A private CA to trust instead of the system's trust store.

    Raises:
        OSError: The CA file cannot be read or holds no certificate.
    """
    if ca_file is None:
        return _tls_context(None, 0)
    return _tls_context(str(ca_file), ca_file.stat().st_mtime_ns)


def _verify_failed(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind ``exc``, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def relay_client(
    *,
    host: str,
    port: int,
    timeout: float,
    security: SmtpSecurity = "none",
    login: tuple[str, str] | None = None,
    ca_file: Path | None = None,
) -> aiosmtplib.SMTP:
    """The client for the relay, not yet connected; connecting brings TLS up, then logs in.

    With ``starttls`` or ``tls`` the relay's certificate chain and host name
    are verified; a relay that does not offer STARTTLS is not sent to in
    clear. ``login`` is sent only after TLS is up, except to a loopback relay
    in ``none`` mode (the settings refuse anything else).

    Args:
        host: The relay's host name or address (the name its certificate must carry).
        port: The relay's port.
        timeout: Seconds allowed for connecting and for each SMTP exchange.
        security: ``none`` (plain), ``starttls`` (upgrade a plain connection) or ``tls``.
        login: Username and password for SMTP AUTH.
        ca_file: A private CA to trust instead of the system's trust store.

    Raises:
        EmailDeliveryError: The CA file cannot be used.
    """
    try:
        context = None if security == "none" else tls_context(ca_file)
    except OSError as exc:
        raise EmailDeliveryError(
            f"the CA file for SMTP relay {host}:{port} cannot be used ({type(exc).__name__})"
        ) from None
    username, password = login if login is not None else (None, None)
    return aiosmtplib.SMTP(
        hostname=host,
        port=port,
        timeout=timeout,
        use_tls=security == "tls",
        # Explicit: aiosmtplib's default would upgrade whenever the relay offers it.
        start_tls=security == "starttls",
        tls_context=context,
        username=username,
        password=password,
    )


async def send_email(
    message: EmailMessage,
    *,
    host: str,
    port: int,
    timeout: float = SMTP_TIMEOUT,  # noqa: ASYNC109 - passed to each exchange with the relay
    security: SmtpSecurity = "none",
    login: tuple[str, str] | None = None,
    ca_file: Path | None = None,
) -> None:
    """Send a message through an SMTP relay (connected as :func:`relay_client` says).

    Args:
        message: The message, addressed by its ``To`` header.
        host: The relay's host name or address (the name its certificate must carry).
        port: The relay's port.
        timeout: Seconds allowed for connecting and for each SMTP exchange.
        security: ``none`` (plain), ``starttls`` (upgrade a plain connection) or ``tls``.
        login: Username and password for SMTP AUTH.
        ca_file: A private CA to trust instead of the system's trust store.

    Raises:
        EmailDeliveryError: The connection, TLS, the login or any SMTP command failed;
            ``permanent`` when the relay rejected the login.
    """
    relay = f"{host}:{port}"
    client = relay_client(
        host=host, port=port, timeout=timeout, security=security, login=login, ca_file=ca_file
    )
    try:
        async with client:
            refused, _ = await client.send_message(message)
    except aiosmtplib.SMTPAuthenticationError as exc:
        # 535 and its kin: the credentials are wrong, and retrying them only gets the
        # account locked. 454 is the relay's own trouble and is retried.
        raise EmailDeliveryError(
            f"SMTP relay {relay} refused the login with {exc.code}",
            smtp_code=exc.code,
            permanent=exc.code >= 500,
        ) from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = sorted({refused.code for refused in exc.recipients})
        raise EmailDeliveryError(
            f"SMTP relay {relay} refused the recipient(s) with {codes}",
            smtp_code=codes[0] if codes else None,
        ) from None
    except aiosmtplib.SMTPResponseException as exc:
        # The server's text often quotes the refused address, so only the code is kept,
        # and the cause is not chained for the same reason.
        raise EmailDeliveryError(
            f"SMTP relay {relay} answered {exc.code} ({type(exc).__name__})", smtp_code=exc.code
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        unverified = _verify_failed(exc)
        if unverified is not None:
            raise EmailDeliveryError(
                f"SMTP relay {relay}: certificate verify failed ({unverified.verify_message})"
            ) from None
        raise EmailDeliveryError(
            f"SMTP delivery via {relay} failed ({type(exc).__name__})"
        ) from None
    if refused:
        raise EmailDeliveryError(f"SMTP relay {relay} refused {len(refused)} recipient(s)")
