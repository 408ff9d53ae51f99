"""Meeting providers: Jitsi room derivation and the Google Calendar wire protocol.

Google responses are served from recorded-style fixtures shaped like the
documented events.insert / events.get answers and error bodies.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from integrations.meetings import (
    GoogleMeetProvider,
    JitsiProvider,
    MeetingProviderError,
    build_provider,
    google_event_id,
)
from models.payloads import CreateMeetingInput

from support.http import ScriptedHTTP, json_fixture

FIXTURES = Path(__file__).parent / "fixtures" / "google"
BASE_URL = "https://www.googleapis.com/calendar/v3"
# Shared calendars have email-shaped ids: they must be url-quoted and kept out of errors.
CALENDAR_ID = "team-bookings@group.calendar.google.com"
TOKEN = "ya29.test-access-token"
# The booking the recorded fixtures were captured for.
BOOKING_ID = uuid.UUID("3f1c2a9e-7b4d-4c1e-9a55-0d2e8b6f4a17")
EVENT_ID = "bk3f1c2a9e7b4d4c1e9a550d2e8b6f4a17"
EVENTS_PATH = "/calendar/v3/calendars/team-bookings%40group.calendar.google.com/events"
MEET_URL = "https://meet.google.com/qzk-mxvb-rtw"

Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> dict[str, Any]:
    """Load one recorded Google response body."""
    return json_fixture(FIXTURES, name)


class Google(ScriptedHTTP):
    """A scripted Google Calendar: answers requests in order and records them."""

    def provider(self) -> GoogleMeetProvider:
        return GoogleMeetProvider(self.client(), BASE_URL, CALENDAR_ID, TOKEN)


def meeting_input(booking_id: uuid.UUID = BOOKING_ID) -> CreateMeetingInput:
    starts_at = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
    return CreateMeetingInput(
        booking_id=booking_id,
        provider="google",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
    )


def assert_safe(error: MeetingProviderError) -> None:
    """Errors end up in logs and workflow histories: no token, no calendar id."""
    assert TOKEN not in str(error)
    assert "@" not in str(error)
    assert error.__cause__ is None


async def test_google_create_inserts_event_with_meet_conference() -> None:
    """A first create POSTs one event with a Meet create request and returns its hangoutLink."""
    google = Google(httpx.Response(200, json=fixture("event_confirmed")))

    meeting = await google.provider().create(meeting_input())

    assert meeting.url == MEET_URL
    assert meeting.external_id == EVENT_ID
    [request] = google.requests
    assert request.method == "POST"
    assert request.url.raw_path.decode() == f"{EVENTS_PATH}?conferenceDataVersion=1"
    assert request.url.params["conferenceDataVersion"] == "1"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    body = json.loads(request.content)
    assert body["id"] == EVENT_ID
    assert body["conferenceData"]["createRequest"] == {
        "requestId": str(BOOKING_ID),
        "conferenceSolutionKey": {"type": "hangoutsMeet"},
    }
    assert body["start"] == {"dateTime": "2025-03-10T09:30:00+00:00"}
    assert body["end"] == {"dateTime": "2025-03-10T10:00:00+00:00"}
    assert body["summary"]


def test_google_event_id_is_deterministic_base32hex() -> None:
    """The event id is a pure function of the booking id and valid in Google's alphabet."""
    other = uuid.uuid4()

    assert google_event_id(BOOKING_ID) == EVENT_ID
    assert google_event_id(other) == google_event_id(uuid.UUID(str(other)))
    assert google_event_id(other) != EVENT_ID
    assert re.fullmatch(r"[a-v0-9]{5,1024}", google_event_id(other))


async def test_google_create_after_duplicate_reads_existing_event() -> None:
    """A 409 on insert (an earlier attempt succeeded) GETs that event instead of failing."""
    google = Google(
        httpx.Response(409, json=fixture("error_duplicate_409")),
        httpx.Response(200, json=fixture("event_confirmed")),
    )

    meeting = await google.provider().create(meeting_input())

    assert meeting.url == MEET_URL
    assert meeting.external_id == EVENT_ID
    insert, get = google.requests
    assert insert.method == "POST"
    assert get.method == "GET"
    assert get.url.path == f"{EVENTS_PATH.replace('%40', '@')}/{EVENT_ID}"
    assert get.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_google_pending_conference_is_retryable_and_retry_finds_link() -> None:
    """A pending conference raises a retryable error, and the retry reads the link via 409."""
    pending = fixture("event_conference_pending")
    google = Google(
        httpx.Response(200, json=pending),
        httpx.Response(409, json=fixture("error_duplicate_409")),
        httpx.Response(200, json=fixture("event_confirmed")),
    )
    provider = google.provider()

    with pytest.raises(MeetingProviderError) as caught:
        await provider.create(meeting_input())
    assert caught.value.retryable is True
    assert_safe(caught.value)

    meeting = await provider.create(meeting_input())
    assert meeting.url == MEET_URL
    assert [r.method for r in google.requests] == ["POST", "POST", "GET"]
    first, retry = (json.loads(r.content) for r in google.requests[:2])
    assert first == retry


async def test_google_video_entry_point_used_without_hangout_link() -> None:
    """Without hangoutLink the video entry point's URI is the link, not the phone or more ones."""
    event = fixture("event_confirmed")
    del event["hangoutLink"]
    video_uri = "https://meet.google.com/abc-defg-hij"
    event["conferenceData"]["entryPoints"][0]["uri"] = video_uri
    event["conferenceData"]["entryPoints"].reverse()
    google = Google(httpx.Response(200, json=event))

    meeting = await google.provider().create(meeting_input())

    assert meeting.url == video_uri


async def test_google_failed_conference_is_not_retryable() -> None:
    """A conference whose creation failed will never get a link, so retrying is pointless."""
    event = fixture("event_conference_pending")
    event["conferenceData"]["createRequest"]["status"]["statusCode"] = "failure"
    google = Google(httpx.Response(200, json=event))

    with pytest.raises(MeetingProviderError) as caught:
        await google.provider().create(meeting_input())

    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, "error_backend_500"),
        (503, "error_backend_500"),
        (429, "error_rate_limit_429"),
        (403, "error_rate_limit_403"),
    ],
)
async def test_google_server_errors_and_rate_limits_are_retryable(status: int, body: str) -> None:
    """5xx, 429 and Google's 403 rate-limit reasons are retryable provider errors."""
    google = Google(httpx.Response(status, json=fixture(body)))

    with pytest.raises(MeetingProviderError) as caught:
        await google.provider().create(meeting_input())

    assert caught.value.retryable is True
    assert caught.value.status_code == status
    assert_safe(caught.value)


async def test_google_forbidden_is_not_retryable() -> None:
    """A 403 for missing calendar access is permanent and not retried."""
    google = Google(httpx.Response(403, json=fixture("error_required_access_403")))

    with pytest.raises(MeetingProviderError) as caught:
        await google.provider().create(meeting_input())

    assert caught.value.retryable is False
    assert caught.value.status_code == 403
    assert "requiredAccessLevel" in str(caught.value)
    assert_safe(caught.value)


async def test_google_transport_error_is_retryable_and_leaks_nothing() -> None:
    """A connection failure is retryable and its error names neither token nor calendar."""
    google = Google(httpx.ConnectError(f"cannot reach {BASE_URL}/calendars/{CALENDAR_ID}"))

    with pytest.raises(MeetingProviderError) as caught:
        await google.provider().create(meeting_input())

    assert caught.value.retryable is True
    assert_safe(caught.value)


async def test_google_rejects_naive_times_without_calling_google() -> None:
    """A naive datetime cannot be sent as an RFC 3339 dateTime, so create fails up front."""
    google = Google()
    naive = datetime(2025, 3, 10, 9, 30)

    with pytest.raises(MeetingProviderError) as caught:
        await google.provider().create(
            CreateMeetingInput(
                booking_id=BOOKING_ID, provider="google", starts_at=naive, ends_at=naive
            )
        )

    assert caught.value.retryable is False
    assert google.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(204),
        httpx.Response(410, json=fixture("error_deleted_410")),
        httpx.Response(404, json=fixture("error_not_found_404")),
    ],
)
async def test_google_cancel_deletes_event_and_tolerates_gone(answer: httpx.Response) -> None:
    """Cancel DELETEs the event, and an event that is already gone counts as cancelled."""
    google = Google(answer)

    await google.provider().cancel(EVENT_ID)

    [request] = google.requests
    assert request.method == "DELETE"
    assert request.url.raw_path.decode() == f"{EVENTS_PATH}/{EVENT_ID}"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_google_cancel_server_error_is_retryable() -> None:
    """A 5xx on delete raises a retryable error instead of reporting success."""
    google = Google(httpx.Response(500, json=fixture("error_backend_500")))

    with pytest.raises(MeetingProviderError) as caught:
        await google.provider().cancel(EVENT_ID)

    assert caught.value.retryable is True


async def test_jitsi_same_booking_same_link() -> None:
    """Creating twice for one booking yields the same room, so a retry cannot split a meeting."""
    provider = JitsiProvider("https://meet.jit.si/", b"k" * 32)

    first = await provider.create(meeting_input())
    second = await provider.create(meeting_input())

    assert first == second
    assert re.fullmatch(r"booking-[0-9a-f]{32}", first.external_id)
    assert first.url == f"https://meet.jit.si/{first.external_id}"


async def test_jitsi_different_booking_different_link() -> None:
    """Different bookings get different rooms."""
    provider = JitsiProvider("https://meet.jit.si", b"k" * 32)

    first = await provider.create(meeting_input())
    other = await provider.create(meeting_input(uuid.uuid4()))

    assert first.url != other.url


async def test_jitsi_different_key_different_link() -> None:
    """The room depends on the secret key, so knowing a booking id is not enough to join."""
    one = await JitsiProvider("https://meet.jit.si", b"k" * 32).create(meeting_input())
    two = await JitsiProvider("https://meet.jit.si", b"q" * 32).create(meeting_input())

    assert one.url != two.url
    assert str(BOOKING_ID) not in one.url
    assert BOOKING_ID.hex not in one.url


async def test_build_provider_jitsi_uses_meeting_key() -> None:
    """The jitsi provider is keyed by the settings' meeting key and base URL."""
    settings = Settings(
        _env_file=None, meeting_secret="m" * 40, jitsi_base_url="https://jitsi.example.org"
    )
    async with httpx.AsyncClient() as client:
        provider = build_provider("jitsi", settings, client)

    expected = await JitsiProvider("https://jitsi.example.org", b"m" * 40).create(meeting_input())
    assert provider.name == "jitsi"
    assert await provider.create(meeting_input()) == expected


async def test_build_provider_google_requires_token() -> None:
    """Choosing google without an access token fails at build time, not on first use."""
    settings = Settings(_env_file=None, google_access_token=None)
    async with httpx.AsyncClient() as client:
        with pytest.raises(ValueError, match="BOOKING_GOOGLE_ACCESS_TOKEN"):
            build_provider("google", settings, client)


async def test_build_provider_google_uses_settings() -> None:
    """The google provider talks to the configured API base, calendar and token."""
    google = Google(httpx.Response(200, json=fixture("event_confirmed")))
    settings = Settings(
        _env_file=None,
        google_access_token=TOKEN,
        google_calendar_id=CALENDAR_ID,
        google_api_base_url=BASE_URL,
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(google)) as client:
        provider = build_provider("google", settings, client)
        meeting = await provider.create(meeting_input())

    assert provider.name == "google"
    assert meeting.url == MEET_URL
    assert google.requests[0].url.raw_path.decode().startswith(EVENTS_PATH)
    assert google.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_build_provider_rejects_unknown_name() -> None:
    """An unknown provider name is a configuration error."""
    async with httpx.AsyncClient() as client:
        with pytest.raises(ValueError, match="unknown meeting provider"):
            build_provider("zoom", Settings(_env_file=None), client)


async def test_google_move_patches_the_event_times_and_keeps_the_link() -> None:
    """Moving a booking PATCHes only start and end of its event; the Meet link stays."""
    google = Google(httpx.Response(200, json=fixture("event_confirmed")))
    moved = meeting_input()
    later = CreateMeetingInput(
        booking_id=moved.booking_id,
        provider="google",
        starts_at=moved.starts_at + timedelta(days=1),
        ends_at=moved.ends_at + timedelta(days=1),
    )

    meeting = await google.provider().move(EVENT_ID, later)

    assert (meeting.url, meeting.external_id) == (MEET_URL, EVENT_ID)
    [request] = google.requests
    assert request.method == "PATCH"
    assert request.url.raw_path.decode() == f"{EVENTS_PATH}/{EVENT_ID}"
    assert json.loads(request.content) == {
        "start": {"dateTime": "2025-03-11T09:30:00+00:00"},
        "end": {"dateTime": "2025-03-11T10:00:00+00:00"},
    }


async def test_jitsi_move_keeps_the_booking_room() -> None:
    """A Jitsi room belongs to the booking: moving it returns the same link."""
    jitsi = JitsiProvider("https://meet.example", b"k" * 32)
    created = await jitsi.create(meeting_input())
    later = meeting_input().model_copy(update={"starts_at": datetime(2026, 1, 1, tzinfo=UTC)})
    assert await jitsi.move(created.external_id, later) == created
