"""Meeting-link providers behind one interface.

Every provider must be idempotent per booking: the meeting activity is retried
by Temporal, and a retry after a lost response must find the same meeting
instead of creating a second one.

    JitsiProvider       no network; the room name is derived from the booking id
    GoogleMeetProvider  Google Calendar events with a client-chosen event id
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from core.settings import Settings
from models.payloads.meetings import CreateMeetingInput, MeetingLink

# Google documents these 403 reasons as rate limiting, to be retried with backoff;
# every other 403 (no access to the calendar, ...) is permanent.
_GOOGLE_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


class MeetingProviderError(Exception):
    """A provider call failed; ``retryable`` says whether trying again can help.

    Messages carry only status codes and machine-readable reasons, never tokens,
    calendar ids or provider error text (which can quote email addresses).
    """

    def __init__(self, message: str, *, retryable: bool, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


class MeetingProvider(Protocol):
    """Creates and cancels the meeting of a booking."""

    name: str
    # True when ``create`` calls no network: the link is made inside the booking's
    # decision, in its transaction (see activities.decision), not by a later step.
    offline: bool

    async def create(self, request: CreateMeetingInput) -> MeetingLink:
        """Create the booking's meeting, or return the one an earlier attempt created."""
        ...

    async def move(self, external_id: str, request: CreateMeetingInput) -> MeetingLink:
        """Move an existing meeting to the booking's new time; the link stays valid."""
        ...

    async def cancel(self, external_id: str) -> None:
        """Cancel a meeting; cancelling one that is already gone succeeds."""
        ...


class JitsiProvider:
    """Jitsi rooms need no API call: whoever knows the room name can join."""

    name = "jitsi"
    offline = True

    def __init__(self, base_url: str, key: bytes) -> None:
        self._base_url = base_url.rstrip("/")
        self._key = key

    def room_name(self, booking_id: uuid.UUID) -> str:
        """The booking's room name: stable across retries, unguessable without the key.

        Args:
            booking_id: The booking the room is for.

        Returns:
            ``"booking-"`` followed by 32 hex characters of an HMAC of the booking id.
        """
        digest = hmac.new(self._key, str(booking_id).encode(), hashlib.sha256).hexdigest()
        return f"booking-{digest[:32]}"

    async def create(self, request: CreateMeetingInput) -> MeetingLink:
        """Return the booking's room link.

        Args:
            request: The booking whose meeting to create.

        Returns:
            The room URL, with the room name as the external id.
        """
        room = self.room_name(request.booking_id)
        return MeetingLink(url=f"{self._base_url}/{room}", external_id=room)

    async def move(self, external_id: str, request: CreateMeetingInput) -> MeetingLink:
        """A Jitsi room belongs to the booking, not to a time: the link is unchanged."""
        return await self.create(request)

    async def cancel(self, external_id: str) -> None:
        """Do nothing: a Jitsi room only exists while people are in it.

        Args:
            external_id: The room name (unused).
        """


def google_event_id(booking_id: uuid.UUID) -> str:
    """The Google Calendar event id of a booking's meeting.

    Google event ids use the base32hex alphabet (``a-v``, ``0-9``) and are 5 to 1024
    characters long; lowercase uuid hex fits that alphabet.

    Args:
        booking_id: The booking the event is for.

    Returns:
        ``"bk"`` followed by the booking id's 32 hex digits.
    """
    return f"bk{booking_id.hex}"


class GoogleMeetProvider:
    """Google Meet links through Google Calendar API v3 events with conference data.

    Idempotency comes from the client-chosen event id: a retried insert answers
    409, and the event the earlier attempt created is read back instead.
    """

    name = "google"
    offline = False

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, calendar_id: str, access_token: str
    ) -> None:
        self._client = client
        self._events_url = f"{base_url.rstrip('/')}/calendars/{quote(calendar_id, safe='')}/events"
        self._headers = {"Authorization": f"Bearer {access_token}"}

    async def create(self, request: CreateMeetingInput) -> MeetingLink:
        """Insert the booking's calendar event with a Meet conference, or find it again.

        Args:
            request: The booking whose meeting to create.

        Returns:
            The Meet URL, with the Google event id as the external id.

        Raises:
            MeetingProviderError: The call failed, or the conference is not ready yet
                (retryable), or it can never produce a link (not retryable).
        """
        event_id = google_event_id(request.booking_id)
        body = {
            "id": event_id,
            "summary": f"Booking {request.booking_id}",
            "start": {"dateTime": _rfc3339(request.starts_at)},
            "end": {"dateTime": _rfc3339(request.ends_at)},
            "conferenceData": {
                "createRequest": {
                    "requestId": str(request.booking_id),
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }
            },
        }
        response = await self._send(
            "POST", self._events_url, params={"conferenceDataVersion": "1"}, json=body
        )
        operation = "insert"
        if response.status_code == 409:
            # Duplicate event id: an earlier attempt got through and its answer was lost.
            # events.get always returns conferenceData; it takes no conferenceDataVersion.
            operation = "get"
            response = await self._send("GET", f"{self._events_url}/{event_id}")
        _raise_for_status(response, operation)
        return _meeting_from_event(_json_object(response, operation), event_id)

    async def move(self, external_id: str, request: CreateMeetingInput) -> MeetingLink:
        """Patch the event's start and end; its Meet link is kept.

        Args:
            external_id: The Google event id.
            request: The booking with its new times.

        Returns:
            The (unchanged) Meet URL of the moved event.
        """
        body = {
            "start": {"dateTime": _rfc3339(request.starts_at)},
            "end": {"dateTime": _rfc3339(request.ends_at)},
        }
        response = await self._send("PATCH", f"{self._events_url}/{external_id}", json=body)
        _raise_for_status(response, "patch")
        return _meeting_from_event(_json_object(response, "patch"), external_id)

    async def cancel(self, external_id: str) -> None:
        """Delete the meeting's calendar event.

        Args:
            external_id: The Google event id returned by :meth:`create`.

        Raises:
            MeetingProviderError: The delete failed for a reason other than the event
                being already gone.
        """
        response = await self._send("DELETE", f"{self._events_url}/{quote(external_id, safe='')}")
        if response.status_code in (404, 410):
            return
        _raise_for_status(response, "delete")

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Response:
        try:
            return await self._client.request(
                method, url, params=params, json=json, headers=self._headers
            )
        except httpx.RequestError as exc:
            # The name of the exception class only: its text can include the URL,
            # whose calendar id is often an email address.
            raise MeetingProviderError(
                f"google calendar {method} failed: {type(exc).__name__}", retryable=True
            ) from None


def _rfc3339(moment: datetime) -> str:
    # Google rejects a dateTime without an offset unless a timeZone is given too.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise MeetingProviderError("meeting times must be timezone-aware", retryable=False)
    return moment.isoformat()


def _error_reason(response: httpx.Response) -> str | None:
    try:
        errors = response.json()["error"]["errors"]
        reason = errors[0]["reason"]
    except (ValueError, LookupError, TypeError):
        return None
    return reason if isinstance(reason, str) else None


def _raise_for_status(response: httpx.Response, operation: str) -> None:
    status = response.status_code
    if status < 400:
        return
    reason = _error_reason(response)
    retryable = (
        status == 429 or status >= 500 or (status == 403 and reason in _GOOGLE_RATE_LIMIT_REASONS)
    )
    raise MeetingProviderError(
        f"google calendar {operation} answered {status} ({reason or 'no reason'})",
        retryable=retryable,
        status_code=status,
    )


def _json_object(response: httpx.Response, operation: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # A 2xx without an event is not Google's answer (a proxy's, say): worth a retry.
        raise MeetingProviderError(
            f"google calendar {operation} answered without an event", retryable=True
        )
    return body


def _meeting_from_event(event: dict[str, Any], event_id: str) -> MeetingLink:
    if event.get("status") == "cancelled":
        # The event id was used by a meeting that has since been cancelled.
        raise MeetingProviderError("google calendar event is cancelled", retryable=False)
    conference = event.get("conferenceData") or {}
    url = event.get("hangoutLink") or next(
        (
            entry.get("uri")
            for entry in conference.get("entryPoints", [])
            if entry.get("entryPointType") == "video"
        ),
        None,
    )
    if isinstance(url, str) and url:
        return MeetingLink(url=url, external_id=event_id)
    status = conference.get("createRequest", {}).get("status", {}).get("statusCode")
    if status == "pending":
        # Google creates the conference asynchronously; a retry reads it via the 409 path.
        raise MeetingProviderError("google meet conference is still pending", retryable=True)
    raise MeetingProviderError(
        f"google calendar event has no meet link (conference status {status})", retryable=False
    )


def build_provider(name: str, settings: Settings, client: httpx.AsyncClient) -> MeetingProvider:
    """The meeting provider called ``name``, configured from settings.

    Args:
        name: ``"jitsi"`` or ``"google"``.
        settings: Where the provider's URLs, keys and credentials come from.
        client: The HTTP client providers that call an API use.

    Returns:
        The configured provider.

    Raises:
        ValueError: The name is unknown, or the provider lacks its credentials.
    """
    if name == "jitsi":
        return JitsiProvider(settings.jitsi_base_url, settings.meeting_key())
    if name == "google":
        if settings.google_access_token is None:
            raise ValueError("the google meeting provider needs BOOKING_GOOGLE_ACCESS_TOKEN")
        return GoogleMeetProvider(
            client,
            settings.google_api_base_url,
            settings.google_calendar_id,
            settings.google_access_token.get_secret_value(),
        )
    raise ValueError(f"unknown meeting provider {name!r}")
