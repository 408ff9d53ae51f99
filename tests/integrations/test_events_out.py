"""Booking events for the host application: written with the change, signed, retried, SSRF-safe."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

import stack.devstack
from activities.slots import SlotActivities
from core.db import SessionFactory
from core.settings import Settings
from core.signing import InvalidSignature, verify_header
from integrations.events_out import TARGET_REFUSED, EventDispatcher, GaveUp, address_allowed
from models.db import Booking, OutgoingEvent
from models.domain import AttentionKind, BookingStatus
from models.payloads import ReleaseSlotInput
from store import alerts
from store.timeline import PUBLISHED_TYPES, Step, record_event, record_events
from worker import alert_undelivered

from support.db import insert_confirmed_booking, rows, statements_sent, timeline_of

SECRET = "events-secret-" + "z" * 40
RECEIVER = "https://host.example/hooks/bookings"
PUBLIC_IP = "93.184.216.34"

Handler = Callable[[httpx.Request], httpx.Response]


async def _record(
    sessions: SessionFactory, booking_id: uuid.UUID, event_type: str, **kwargs: Any
) -> None:
    async with sessions() as session:
        await record_event(session, booking_id, event_type, **kwargs)
        await session.commit()


async def _events(sessions: SessionFactory, booking_id: uuid.UUID) -> list[OutgoingEvent]:
    return await rows(
        sessions,
        select(OutgoingEvent)
        .where(OutgoingEvent.booking_id == booking_id)
        .order_by(OutgoingEvent.source_event_id),
    )


def _resolver(
    *addresses: str, calls: list[str] | None = None
) -> Callable[[str, int], Awaitable[Sequence[str]]]:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        return list(addresses)

    return resolve


def _dispatcher(
    sessions: SessionFactory,
    settings: Settings,
    handler: Handler,
    *,
    addresses: Sequence[str] = (PUBLIC_IP,),
    resolved: list[str] | None = None,
    on_gave_up: GaveUp | None = None,
    **overrides: Any,
) -> EventDispatcher:
    configured = settings.model_copy(
        update={
            "events_webhook_url": RECEIVER,
            "events_webhook_secret": SecretStr(SECRET),
            "events_max_attempts": 3,
            "events_backoff_seconds": 10.0,
            "events_max_backoff_seconds": 60.0,
            **overrides,
        }
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return EventDispatcher(
        sessions,
        configured,
        http,
        resolver=_resolver(*addresses, calls=resolved),
        on_gave_up=on_gave_up,
    )


def _ok(seen: list[httpx.Request]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    return handle


async def test_state_change_writes_one_event_even_when_the_step_reruns(
    sessions: SessionFactory,
) -> None:
    """A published timeline step gets one outgoing event, and a rerun of the step adds none."""
    booking_id = await insert_confirmed_booking(sessions)

    await _record(sessions, booking_id, "booking.confirmed")
    await _record(sessions, booking_id, "booking.confirmed")
    await _record(sessions, booking_id, "payment.captured", data={"amount": 100})

    [event] = await _events(sessions, booking_id)
    assert (event.type, event.status, event.attempts) == ("booking.confirmed", "PENDING", 0)
    assert event.payload["id"] == str(event.id)
    assert event.payload["type"] == "booking.confirmed"
    assert event.payload["booking_id"] == str(booking_id)
    assert event.payload["data"] == {}
    assert datetime.fromisoformat(event.payload["created_at"]).tzinfo is not None


async def test_a_transactions_steps_are_one_statement_and_a_rerun_writes_none(
    sessions: SessionFactory,
) -> None:
    """Several steps are written by one statement, in order; only the published get events."""
    booking_id = await insert_confirmed_booking(sessions)
    steps = (
        Step("payment.captured", {"amount": 100}),
        Step("booking.confirmed"),
        Step("meeting.ready", {"provider": "jitsi"}),
    )
    with statements_sent(
        sessions, lambda s: "booking_events" in s or "outgoing_events" in s
    ) as statements:
        for _ in range(2):  # The second time is a retried step: nothing new.
            async with sessions() as session:
                await record_events(session, booking_id, *steps)
                await session.commit()

    assert len(statements) == 2
    assert [(e.type, e.data) for e in await timeline_of(sessions, booking_id)] == [
        ("payment.captured", {"amount": 100}),
        ("booking.confirmed", {}),
        ("meeting.ready", {"provider": "jitsi"}),
    ]
    confirmed, ready = await _events(sessions, booking_id)
    assert (confirmed.type, ready.type) == ("booking.confirmed", "booking.meeting_ready")
    assert ready.payload["id"] == str(ready.id)
    assert ready.payload["booking_id"] == str(booking_id)
    assert ready.payload["data"] == {"provider": "jitsi"}
    assert datetime.fromisoformat(ready.payload["created_at"]) == datetime.fromisoformat(
        confirmed.payload["created_at"]
    )


async def test_event_exists_only_when_the_state_change_commits(sessions: SessionFactory) -> None:
    """A transaction rolled back after record_event leaves neither timeline row nor event."""
    booking_id = await insert_confirmed_booking(sessions)
    async with sessions() as session:
        await record_event(session, booking_id, "booking.cancelled", {"reason": "x"})
        await session.rollback()

    assert await _events(sessions, booking_id) == []


async def test_every_state_change_is_published_under_its_event_type(
    sessions: SessionFactory,
) -> None:
    """Each published timeline type maps to its booking event type, carrying the timeline data."""
    booking_id = await insert_confirmed_booking(sessions)
    for timeline_type in PUBLISHED_TYPES:
        await _record(sessions, booking_id, timeline_type, data={"from": timeline_type})

    events = await _events(sessions, booking_id)
    assert [e.type for e in events] == [
        "booking.created",
        "booking.awaiting_payment",
        "booking.confirmed",
        "booking.cancelled",
        "booking.rescheduled",
        "booking.expired",
        "booking.failed",
        "booking.completed",
        "booking.payment_declined",
        "booking.meeting_cancelled",
        "booking.refunded",
        "booking.meeting_ready",
    ]
    assert [e.payload["data"]["from"] for e in events] == list(PUBLISHED_TYPES)


async def test_a_retried_activity_publishes_its_change_once(sessions: SessionFactory) -> None:
    """release_slot run twice (a Temporal retry) publishes booking.cancelled exactly once."""
    booking_id = await insert_confirmed_booking(sessions)
    release = SlotActivities(sessions).release_slot
    request = ReleaseSlotInput(
        booking_id=booking_id, status=BookingStatus.CANCELLED, reason="customer_request"
    )

    await ActivityEnvironment().run(release, request)
    await ActivityEnvironment().run(release, request)

    [event] = await _events(sessions, booking_id)
    assert event.type == "booking.cancelled"
    assert event.payload["data"] == {"reason": "customer_request"}


async def test_events_are_delivered_signed_with_unique_ids(
    sessions: SessionFactory, settings: Settings
) -> None:
    """Each event is POSTed once as JSON with a verifiable Booking-Signature and its own id."""
    booking_id = await insert_confirmed_booking(sessions)
    await _record(sessions, booking_id, "booking.held")
    await _record(sessions, booking_id, "booking.confirmed")
    seen: list[httpx.Request] = []
    dispatcher = _dispatcher(sessions, settings, _ok(seen))
    now = datetime.now(UTC) + timedelta(seconds=1)

    assert await dispatcher.dispatch_once(now, booking_ids=[booking_id]) == 2
    assert await dispatcher.dispatch_once(now, booking_ids=[booking_id]) == 0

    events = await _events(sessions, booking_id)
    assert [(e.status, e.attempts, e.delivered_at) for e in events] == [
        ("DELIVERED", 1, now),
        ("DELIVERED", 1, now),
    ]
    assert len(seen) == 2
    ids = [request.headers["Booking-Event-Id"] for request in seen]
    assert sorted(ids) == sorted(str(e.id) for e in events)
    assert len(set(ids)) == 2
    for request in seen:
        assert request.method == "POST"
        assert request.headers["Content-Type"] == "application/json"
        body = json.loads(request.content)
        assert body["id"] == request.headers["Booking-Event-Id"]
        assert body["booking_id"] == str(booking_id)
        signature = request.headers["Booking-Signature"]
        assert verify_header(signature, request.content, [SECRET], now=now.timestamp())
        with pytest.raises(InvalidSignature):
            verify_header(signature, request.content, ["another-secret"], now=now.timestamp())
        # Sent to the address that was checked, addressed to the configured host.
        assert request.url.host == PUBLIC_IP
        assert request.headers["Host"] == "host.example"
        assert request.extensions["sni_hostname"] == "host.example"
    assert [json.loads(r.content)["type"] for r in seen] == ["booking.created", "booking.confirmed"]


async def test_failed_delivery_is_retried_at_the_backoff_time(
    sessions: SessionFactory, settings: Settings
) -> None:
    """A 500 is recorded and the event is sent again once its backoff has passed, then DELIVERED."""
    booking_id = await insert_confirmed_booking(sessions)
    await _record(sessions, booking_id, "booking.confirmed")
    statuses = iter([500, 200])
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(statuses))

    dispatcher = _dispatcher(sessions, settings, handle)
    t0 = datetime.now(UTC) + timedelta(seconds=1)

    assert await dispatcher.dispatch_once(t0, booking_ids=[booking_id]) == 1
    [pending] = await _events(sessions, booking_id)
    assert (pending.status, pending.attempts, pending.last_error) == ("PENDING", 1, "HTTP 500")
    assert pending.next_attempt_at == t0 + timedelta(seconds=10)

    early = t0 + timedelta(seconds=9)
    assert await dispatcher.dispatch_once(early, booking_ids=[booking_id]) == 0
    retry = t0 + timedelta(seconds=10)
    assert await dispatcher.dispatch_once(retry, booking_ids=[booking_id]) == 1

    [delivered] = await _events(sessions, booking_id)
    assert (delivered.status, delivered.attempts, delivered.last_error) == ("DELIVERED", 2, None)
    assert len(seen) == 2
    assert seen[0].headers["Booking-Event-Id"] == seen[1].headers["Booking-Event-Id"]


async def test_delivery_gives_up_after_max_attempts_and_opens_an_alert(
    sessions: SessionFactory, settings: Settings
) -> None:
    """A receiver that never answers: doubling backoff, then FAILED and EVENT_DELIVERY_FAILED.

    The alert comes from the worker's give-up hook, in the transaction that
    marks the event FAILED; no attempt before the last one opens it.
    """
    booking_id = await insert_confirmed_booking(sessions)
    await _record(sessions, booking_id, "booking.expired")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    dispatcher = _dispatcher(sessions, settings, refuse, on_gave_up=alert_undelivered)
    now = datetime.now(UTC) + timedelta(seconds=1)
    waits, alerted = [], []
    for _ in range(3):
        assert await dispatcher.dispatch_once(now, booking_ids=[booking_id]) == 1
        [event] = await _events(sessions, booking_id)
        waits.append(event.next_attempt_at - now)
        now = event.next_attempt_at
        async with sessions() as session:
            alerted.append(await alerts.open_kinds(session, booking_id))
    async with sessions() as session:
        booking = await session.get(Booking, booking_id)

    assert waits[:2] == [timedelta(seconds=10), timedelta(seconds=20)]
    assert (event.status, event.attempts, event.last_error) == ("FAILED", 3, "ConnectError")
    assert await dispatcher.dispatch_once(now + timedelta(days=1), booking_ids=[booking_id]) == 0
    assert alerted == [[], [], [AttentionKind.EVENT_DELIVERY_FAILED]]
    assert booking is not None
    assert booking.needs_attention
    assert "was not delivered after 3 attempts: ConnectError" in (booking.attention_reason or "")


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["::1"],
        ["224.0.0.1"],
        ["0.0.0.0"],  # noqa: S104 - the address under test, not a bind
        [PUBLIC_IP, "192.168.1.10"],
    ],
)
async def test_private_targets_are_refused_without_a_request(
    sessions: SessionFactory, settings: Settings, addresses: list[str]
) -> None:
    """A receiver host resolving to any non-public address fails its events at once, unsent."""
    booking_id = await insert_confirmed_booking(sessions)
    await _record(sessions, booking_id, "booking.confirmed")
    seen: list[httpx.Request] = []
    dispatcher = _dispatcher(sessions, settings, _ok(seen), addresses=addresses)

    assert await dispatcher.dispatch_once(booking_ids=[booking_id]) == 1

    [event] = await _events(sessions, booking_id)
    assert (event.status, event.attempts, event.last_error) == ("FAILED", 1, TARGET_REFUSED)
    assert seen == []


async def test_a_literal_metadata_address_is_refused_without_resolving(
    sessions: SessionFactory, settings: Settings
) -> None:
    """A URL naming 169.254.169.254 directly is refused without asking the resolver."""
    booking_id = await insert_confirmed_booking(sessions)
    await _record(sessions, booking_id, "booking.confirmed")
    seen: list[httpx.Request] = []
    resolved: list[str] = []
    dispatcher = _dispatcher(
        sessions,
        settings,
        _ok(seen),
        resolved=resolved,
        events_webhook_url="http://169.254.169.254/latest/meta-data",
    )

    await dispatcher.dispatch_once(booking_ids=[booking_id])

    [event] = await _events(sessions, booking_id)
    assert (event.status, event.last_error) == ("FAILED", TARGET_REFUSED)
    assert (seen, resolved) == ([], [])


async def test_a_public_ipv6_target_passes(sessions: SessionFactory, settings: Settings) -> None:
    """A host whose every address is public gets its events, at the address that was checked."""
    booking_id = await insert_confirmed_booking(sessions)
    await _record(sessions, booking_id, "meeting.ready", data={"provider": "jitsi"})
    seen: list[httpx.Request] = []
    resolved: list[str] = []
    dispatcher = _dispatcher(
        sessions, settings, _ok(seen), addresses=["2606:4700::1111", PUBLIC_IP], resolved=resolved
    )

    await dispatcher.dispatch_once(booking_ids=[booking_id])

    [event] = await _events(sessions, booking_id)
    assert event.status == "DELIVERED"
    assert resolved == ["host.example"]
    assert [r.url.host for r in seen] == ["2606:4700::1111"]


async def test_dev_flag_allows_a_local_receiver(
    sessions: SessionFactory, settings: Settings
) -> None:
    """With events_allow_private_targets a loopback receiver gets its events, unresolved."""
    booking_id = await insert_confirmed_booking(sessions)
    await _record(sessions, booking_id, "booking.confirmed")
    seen: list[httpx.Request] = []
    resolved: list[str] = []
    dispatcher = _dispatcher(
        sessions,
        settings,
        _ok(seen),
        addresses=["127.0.0.1"],
        resolved=resolved,
        events_webhook_url="http://localhost:9000/events",
        events_allow_private_targets=True,
    )

    await dispatcher.dispatch_once(booking_ids=[booking_id])

    [event] = await _events(sessions, booking_id)
    assert event.status == "DELIVERED"
    assert [str(r.url) for r in seen] == ["http://localhost:9000/events"]


async def test_resolution_failure_is_a_retried_attempt(
    sessions: SessionFactory, settings: Settings
) -> None:
    """A DNS failure is recorded as a failed attempt and retried, not treated as a refusal."""
    booking_id = await insert_confirmed_booking(sessions)
    await _record(sessions, booking_id, "booking.confirmed")
    dispatcher = _dispatcher(sessions, settings, _ok([]), addresses=[])

    await dispatcher.dispatch_once(booking_ids=[booking_id])

    [event] = await _events(sessions, booking_id)
    assert (event.status, event.attempts, event.last_error) == ("PENDING", 1, "OSError")


def test_dispatcher_refuses_to_send_unsigned(settings: Settings) -> None:
    """A receiver URL without a signing secret is a configuration error, raised at start."""
    unsigned = settings.model_copy(update={"events_webhook_url": RECEIVER})
    with pytest.raises(RuntimeError, match="BOOKING_EVENTS_WEBHOOK_SECRET"):
        EventDispatcher(None, unsigned, httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(events_webhook_secret=SecretStr("changeme"))


def test_make_dev_generates_a_persistent_events_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dev_settings fills in an events signing secret and keeps it in the data dir."""
    monkeypatch.setattr(stack.devstack, "get_settings", lambda: Settings(data_dir=tmp_path))

    first = stack.devstack.dev_settings()
    second = stack.devstack.dev_settings()

    assert first.events_webhook_secret is not None
    assert first.events_webhook_secret == second.events_webhook_secret
    assert (tmp_path / "events_webhook_secret").read_text().strip() == (
        first.events_webhook_secret.get_secret_value()
    )
    assert first.events_allow_private_targets is False


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        (PUBLIC_IP, True),
        ("2606:4700::1111", True),
        ("100.64.0.1", False),  # shared (carrier-grade NAT) space
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("fe80::1%eth0", False),  # link-local with a scope id
        ("fd00::1", False),  # unique local
        ("ff02::1", False),  # multicast
        ("::", False),
    ],
)
def test_address_policy_sees_through_embedded_ipv4(address: str, allowed: bool) -> None:
    """IPv6 spellings of private IPv4 addresses are refused like the addresses themselves."""
    assert address_allowed(address) is allowed
