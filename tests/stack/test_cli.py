"""The ``booking-engine`` command: settings errors in words, and the sink's mail printed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import get_settings
from integrations.mail import compose
from stack.cli import main
from stack.mailsink import MailSink


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_setting_out_of_range_names_the_variable_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """BOOKING_HOLD_TTL_SECONDS=10 stops the command with the variable and the rule, not a trace."""
    monkeypatch.setenv("BOOKING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BOOKING_HOLD_TTL_SECONDS", "10")
    monkeypatch.setenv("BOOKING_JWT_SECRET", "a-secret-that-must-not-be-printed-0123456789")
    monkeypatch.setenv("BOOKING_SANDBOX_PORT", "not-a-port")
    with pytest.raises(SystemExit) as stopped:
        main(["token", "--sub", str(uuid.uuid4())])
    message = str(stopped.value.code)
    assert "BOOKING_HOLD_TTL_SECONDS: Input should be greater than or equal to 30" in message
    assert "BOOKING_SANDBOX_PORT:" in message
    assert "Traceback" not in message
    assert "must-not-be-printed" not in message
    assert "not-a-port" not in message


def test_mail_prints_the_newest_matching_message_as_a_person_reads_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Headers, the plain text (not the HTML) and the attachments of the newest match."""
    monkeypatch.setenv("BOOKING_DATA_DIR", str(tmp_path))
    (tmp_path / "mail").mkdir()
    sink = MailSink(tmp_path / "mail", "127.0.0.1", 0)
    for subject, body in [("Your booking is confirmed", "first"), ("Other", "x")]:
        message = compose(
            to="asha@example.com",
            sender="bookings@localhost",
            subject=subject,
            body=body,
            html=f"<p>{body} in html</p>",
            message_id=f"{uuid.uuid4()}@test",
            calendar=(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "REQUEST"),
        )
        sink.save(message.as_bytes())

    main(["mail", "--to", "ASHA@", "--subject", "confirmed"])
    printed = capsys.readouterr().out
    assert printed.splitlines()[:3] == [
        "From: bookings@localhost",
        "To: asha@example.com",
        "Subject: Your booking is confirmed",
    ]
    assert "first" in printed
    assert "html" not in printed
    assert "Attached: invite.ics (text/calendar)" in printed

    with pytest.raises(SystemExit, match="no mail in"):
        main(["mail", "--subject", "cancelled"])
