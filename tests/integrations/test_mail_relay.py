"""Mail through a real relay: STARTTLS or TLS with a verified certificate, and SMTP AUTH.

The relays are aiosmtpd servers with a certificate of a CA made here; they
refuse mail before STARTTLS and before a login. Deliveries go through the
notification activity and its outbox, as in production.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr, ValidationError
from temporalio.testing import ActivityEnvironment

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
from support.tls import Pki, make_pki

# aiosmtpd warns about AUTH without STARTTLS: the implicit-TLS relay is TLS from the first byte.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USER, PASSWORD = "relay-user", "relay-password-1"


class Inbox:
    """aiosmtpd handler keeping each accepted message and who logged in to send it."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append(BytesParser(_class=EmailMessage, policy=default).parsebytes(content))
        self.logins.append(session.auth_data.login.decode() if session.auth_data else "")
        return "250 Message accepted for delivery"

    def about(self, booking_id: uuid.UUID) -> list[EmailMessage]:
        return [m for m in self.messages if str(booking_id) in text_of(m)]


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd answers a failure itself (535).
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class Relay:
    """An aiosmtpd relay on 127.0.0.1 that requires a login, over STARTTLS or implicit TLS."""

    def __init__(self, pki: Pki, *, implicit_tls: bool) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.cert_file, pki.key_file)
        tls: dict[str, Any] = (
            # aiosmtpd's auth_require_tls looks for STARTTLS only; here TLS is from the start.
            {"ssl_context": context, "auth_require_tls": False}
            if implicit_tls
            else {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        )
        self._controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="relay.test",
            authenticator=_authenticate,
            auth_required=True,
            **tls,
        )

    def __enter__(self) -> Relay:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA of this module and a relay certificate for 127.0.0.1 and localhost."""
    return make_pki(tmp_path_factory.mktemp("relay-pki"))


@pytest.fixture(scope="module")
def starttls_relay(pki: Pki) -> Iterator[Relay]:
    """A submission-style relay: plain connection, STARTTLS required, then AUTH required."""
    with Relay(pki, implicit_tls=False) as relay:
        yield relay


@pytest.fixture(scope="module")
def tls_relay(pki: Pki) -> Iterator[Relay]:
    """An implicit-TLS relay (as on port 465), AUTH required."""
    with Relay(pki, implicit_tls=True) as relay:
        yield relay


def _relay_settings(settings: Settings, relay: Relay, **changes: Any) -> Settings:
    """The session's settings pointed at ``relay`` (validated, as from the environment)."""
    values = settings.model_dump() | {
        "smtp_host": "127.0.0.1",
        "smtp_port": relay.port,
        "smtp_security": "starttls",
        "smtp_username": USER,
        "smtp_password": SecretStr(PASSWORD),
    }
    return Settings.model_validate(values | changes)


async def _send(settings: Settings, sessions: SessionFactory, booking_id: uuid.UUID) -> Any:
    result: SendNotificationResult = await ActivityEnvironment().run(
        NotificationActivities(sessions, settings).send_notification,
        SendNotificationInput(booking_id=booking_id, kind="booking_confirmed"),
    )
    return result


async def test_starttls_with_login_and_private_ca_delivers(
    sessions: SessionFactory, settings: Settings, starttls_relay: Relay, pki: Pki
) -> None:
    """STARTTLS, the relay's certificate verified against the CA file, a login: delivered."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    relayed = _relay_settings(settings, starttls_relay, smtp_ca_file=pki.ca_file)

    result = await _send(relayed, sessions, booking_id)

    assert result.status == "SENT"
    [message] = starttls_relay.inbox.about(booking_id)
    assert message["Subject"] == "Your booking is confirmed"
    assert message["To"] == "ravi@example.com"
    assert starttls_relay.inbox.logins[-1] == USER
    outbox = await outbox_of(sessions, booking_id)
    assert (outbox.status, outbox.attempts, outbox.last_error) == ("SENT", 1, None)


async def test_implicit_tls_with_login_delivers(
    sessions: SessionFactory, settings: Settings, tls_relay: Relay, pki: Pki
) -> None:
    """``tls``: TLS from the first byte (port 465 style), verified, then a login: delivered."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    relayed = _relay_settings(
        settings, tls_relay, smtp_security="tls", smtp_ca_file=pki.ca_file, smtp_host="localhost"
    )

    result = await _send(relayed, sessions, booking_id)

    assert result.status == "SENT"
    assert len(tls_relay.inbox.about(booking_id)) == 1
    assert tls_relay.inbox.logins[-1] == USER


async def test_rejected_login_fails_at_once_with_an_alert(
    sessions: SessionFactory, settings: Settings, starttls_relay: Relay, pki: Pki
) -> None:
    """A wrong password (535) is not retried: the outbox row is FAILED and operators are told."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    relayed = _relay_settings(
        settings,
        starttls_relay,
        smtp_ca_file=pki.ca_file,
        smtp_password=SecretStr("not-the-password"),
        notification_max_attempts=5,
    )

    result = await _send(relayed, sessions, booking_id)

    assert result.status == "FAILED"
    assert starttls_relay.inbox.about(booking_id) == []
    outbox = await outbox_of(sessions, booking_id)
    assert (outbox.status, outbox.attempts) == ("FAILED", 1)
    assert "refused the login with 535" in (outbox.last_error or "")
    assert "not-the-password" not in (outbox.last_error or "")
    async with sessions() as session:
        booking = await session.get(Booking, booking_id)
        kinds = await alerts.open_kinds(session, booking_id)
    assert kinds == [AttentionKind.NOTIFICATION_FAILED]
    assert booking is not None
    assert (booking.status, booking.needs_attention) == ("CONFIRMED", True)


async def test_unknown_ca_is_refused_and_retried(
    sessions: SessionFactory, settings: Settings, starttls_relay: Relay
) -> None:
    """Without the CA file the system store does not know the relay: nothing is sent, retried.

    The failure says why (certificate verification) and leaves the row PENDING
    for the activity's retry, as any transient failure of the relay does.
    """
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    relayed = _relay_settings(settings, starttls_relay)

    with pytest.raises(EmailDeliveryError, match="certificate verify failed") as caught:
        await _send(relayed, sessions, booking_id)

    assert not caught.value.permanent
    assert starttls_relay.inbox.about(booking_id) == []
    outbox = await outbox_of(sessions, booking_id)
    assert (outbox.status, outbox.attempts) == ("PENDING", 1)
    assert "certificate verify failed" in (outbox.last_error or "")


async def test_certificate_for_another_name_is_refused(
    sessions: SessionFactory, settings: Settings, tmp_path: Path
) -> None:
    """The host name is checked too: a certificate of the trusted CA for another name is refused."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    elsewhere = make_pki(tmp_path / "pki", hosts=("relay.example.com",), addresses=())
    with Relay(elsewhere, implicit_tls=False) as relay:
        relayed = _relay_settings(settings, relay, smtp_ca_file=elsewhere.ca_file)

        with pytest.raises(EmailDeliveryError, match="certificate verify failed"):
            await _send(relayed, sessions, booking_id)

    assert relay.inbox.messages == []


async def test_starttls_is_never_skipped_for_a_relay_without_it(
    sessions: SessionFactory, settings: Settings, mail_sink: MailSink, pki: Pki
) -> None:
    """``starttls`` against a relay that does not offer it: nothing goes out in clear."""
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")
    relayed = settings.model_copy(update={"smtp_security": "starttls", "smtp_ca_file": pki.ca_file})

    with pytest.raises(EmailDeliveryError):
        await _send(relayed, sessions, booking_id)

    assert [m for m in mail_sink.messages() if str(booking_id) in text_of(m)] == []


async def test_plain_mode_still_reaches_the_sink(
    sessions: SessionFactory, settings: Settings, mail_sink: MailSink
) -> None:
    """``none`` (the default, as in ``make dev``): the local sink gets the mail as before."""
    assert settings.smtp_security == "none"
    booking_id = await insert_confirmed_booking(sessions, "ravi@example.com")

    result = await _send(settings, sessions, booking_id)

    assert result.status == "SENT"
    assert len([m for m in mail_sink.messages() if str(booking_id) in text_of(m)]) == 1


def test_password_over_a_plain_connection_is_refused() -> None:
    """AUTH to a remote relay without starttls or tls is a settings error, naming the variable."""
    with pytest.raises(ValidationError) as caught:
        Settings(
            smtp_host="smtp.example.com",
            smtp_username=USER,
            smtp_password=SecretStr(PASSWORD),
        )

    [problem] = caught.value.errors()
    assert problem["loc"] == ("smtp_password",)
    assert "starttls or tls" in problem["msg"]
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_password_in_clear_is_allowed_to_a_loopback_relay(host: str) -> None:
    """A relay on this machine (a local forwarder) may take the login without TLS."""
    configured = Settings(smtp_host=host, smtp_username=USER, smtp_password=SecretStr(PASSWORD))
    assert configured.smtp_security == "none"


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_password_over_tls_is_accepted(security: str) -> None:
    """With starttls or tls a remote relay gets the login."""
    configured = Settings.model_validate(
        {
            "smtp_host": "smtp.example.com",
            "smtp_security": security,
            "smtp_username": USER,
            "smtp_password": PASSWORD,
        }
    )
    assert configured.smtp_password is not None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"smtp_username": USER}, "smtp_password"),
        ({"smtp_password": PASSWORD}, "smtp_password"),
        ({"smtp_ca_file": "/etc/ssl/relay-ca.pem"}, "smtp_ca_file"),
        ({"smtp_security": "ssl"}, "smtp_security"),
    ],
)
def test_incomplete_relay_settings_are_refused(values: dict[str, str], field: str) -> None:
    """A login without its other half, a CA file for a plain relay, an unknown mode: refused."""
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"smtp_host": "smtp.example.com", **values})
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_empty_login_variables_mean_none() -> None:
    """``BOOKING_SMTP_PASSWORD=`` (as a compose file may render it) is no login, not an error."""
    configured = Settings.model_validate(
        {"smtp_host": "smtp.example.com", "smtp_username": "", "smtp_password": ""}
    )
    assert (configured.smtp_username, configured.smtp_password) == (None, None)
