"""Delivering booking events to the host application: signed, at least once, SSRF-guarded.

``record_event`` writes an ``outgoing_events`` row in the transaction of each
published state change; the worker's :class:`EventDispatcher` polls for due
rows and POSTs each one's payload as JSON to ``events_webhook_url`` with

- ``Booking-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>``
  (``core.signing``, the scheme of the sandbox gateway and Stripe), and
- ``Booking-Event-Id``, the event's UUID (also the payload's ``id``), on which
  receivers deduplicate: delivery is at least once and not in order.

A 2xx marks the event DELIVERED. Anything else (a status, a redirect, a
transport error) is a failed attempt retried with exponential backoff until
``events_max_attempts``, then FAILED. Rows are claimed with ``FOR UPDATE SKIP
LOCKED`` under a lease, so several workers share the work and an event whose
worker died mid-send is sent again when the lease runs out.

The receiver's host is resolved and every address checked before sending:
loopback, private, link-local (cloud metadata), multicast, reserved and
unspecified addresses are refused, and the request goes to the checked
address (``Host`` and TLS server name stay the configured host), so a DNS
answer that changes between check and connect cannot redirect it. A refused
target fails its events at once. ``events_allow_private_targets`` turns the
guard off for local development.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import SessionFactory
from core.settings import Settings
from core.signing import sign_header
from models.db import OutgoingEvent

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "Booking-Signature"
EVENT_ID_HEADER = "Booking-Event-Id"
TARGET_REFUSED = "target address not allowed"

# (host, port) -> every address the host resolves to.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetNotAllowed(Exception):
    """The receiver URL is not http(s) or its host has an address events may not go to."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address of ``host``, from the system resolver, without blocking the loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def address_allowed(address: str) -> bool:
    """Whether an address is public: not loopback, private, link-local, multicast or reserved.

    An IPv6 address that embeds an IPv4 one (mapped, 6to4, Teredo, NAT64) must
    pass both as itself and as the IPv4 address it leads to.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    # is_global already excludes private, loopback, link-local, unspecified and most
    # reserved ranges; the rest are spelled out so the rule reads as the policy does.
    if not ip.is_global or (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_private
    ):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return all(address_allowed(str(inner)) for inner in embedded if inner is not None)
    return True


@dataclass(frozen=True)
class _Target:
    """Where one batch goes: the URL to connect to, and the headers that keep the real host."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


@dataclass(frozen=True)
class ClaimedEvent:
    """An outgoing event this dispatcher holds the lease of."""

    id: uuid.UUID
    booking_id: uuid.UUID
    payload: dict[str, Any]
    attempts: int
    source_event_id: int


@dataclass(frozen=True)
class _Outcome:
    delivered: bool = False
    error: str | None = None
    final: bool = False


def _utcnow() -> datetime:
    return datetime.now(UTC)


# Called in the transaction that marks an event FAILED (the worker opens an alert).
GaveUp = Callable[[AsyncSession, "ClaimedEvent", str], Awaitable[None]]


class EventDispatcher:
    """Deliver due outgoing events to the host application's URL."""

    def __init__(
        self,
        sessions: SessionFactory,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        resolver: Resolver | None = None,
        clock: Callable[[], datetime] = _utcnow,
        batch_size: int = 50,
        lease: timedelta = timedelta(minutes=5),
        timeout: float = 10.0,
        on_gave_up: GaveUp | None = None,
    ) -> None:
        """Bind the dispatcher to its clients.

        Raises:
            RuntimeError: no ``events_webhook_url``, or no ``events_webhook_secret``
                to sign with (events are never sent unsigned).
        """
        if not settings.events_webhook_url:
            raise RuntimeError("BOOKING_EVENTS_WEBHOOK_URL is not set")
        self._secret = settings.require_events_webhook_secret()
        self._url = httpx.URL(settings.events_webhook_url)
        self._on_gave_up = on_gave_up
        self._sessions = sessions
        self._settings = settings
        self._http = http
        self._resolver = resolver or system_resolver
        self._clock = clock
        self._batch_size = batch_size
        self._lease = lease
        self._timeout = httpx.Timeout(timeout)

    async def run(self, interval: float) -> None:
        """Dispatch until cancelled, pausing ``interval`` seconds whenever the queue is drained."""
        log.info("events.dispatcher_started")
        while True:
            try:
                handled = await self.dispatch_once()
            except Exception:
                # A database blip must not end delivery; the next poll tries again.
                log.exception("events.dispatch_failed")
                handled = 0
            if handled < self._batch_size:
                await asyncio.sleep(interval)

    async def dispatch_once(
        self, now: datetime | None = None, *, booking_ids: Collection[uuid.UUID] | None = None
    ) -> int:
        """Claim one batch of due events, send each once, and record the outcomes.

        Args:
            now: The current time (tests advance it instead of sleeping).
            booking_ids: Only events of these bookings (tests share one database).

        Returns:
            How many events were attempted.
        """
        now = now or self._clock()
        claimed = await self._claim(now, booking_ids)
        if not claimed:
            return 0
        try:
            target = await self._target()
        except TargetNotAllowed:
            log.error("events.target_refused", events=len(claimed))
            outcomes = [_Outcome(error=TARGET_REFUSED, final=True)] * len(claimed)
        except (OSError, UnicodeError) as exc:
            # Resolution failed (DNS down, unknown host): a failed attempt, retried.
            outcomes = [_Outcome(error=type(exc).__name__)] * len(claimed)
        else:
            outcomes = list(
                await asyncio.gather(*(self._send(target, event, now) for event in claimed))
            )
        await self._record(claimed, outcomes, now)
        return len(claimed)

    async def _claim(
        self, now: datetime, booking_ids: Collection[uuid.UUID] | None
    ) -> list[ClaimedEvent]:
        due = (
            select(OutgoingEvent.id)
            .where(OutgoingEvent.status == "PENDING", OutgoingEvent.next_attempt_at <= now)
            .order_by(OutgoingEvent.next_attempt_at, OutgoingEvent.source_event_id)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        if booking_ids is not None:
            due = due.where(OutgoingEvent.booking_id.in_(list(booking_ids)))
        async with self._sessions() as session:
            # The attempt counts from the claim, so a worker that dies mid-send still
            # uses one up; the lease keeps other workers off the row meanwhile.
            rows = (
                await session.execute(
                    update(OutgoingEvent)
                    .where(OutgoingEvent.id.in_(due.scalar_subquery()))
                    .values(
                        attempts=OutgoingEvent.attempts + 1,
                        next_attempt_at=now + self._lease,
                    )
                    .returning(
                        OutgoingEvent.id,
                        OutgoingEvent.booking_id,
                        OutgoingEvent.payload,
                        OutgoingEvent.attempts,
                        OutgoingEvent.source_event_id,
                    )
                )
            ).all()
            await session.commit()
        claimed = [ClaimedEvent(*row) for row in rows]
        return sorted(claimed, key=lambda event: event.source_event_id)

    async def _target(self) -> _Target:
        url = self._url
        if url.scheme not in ("http", "https") or not url.host:
            raise TargetNotAllowed
        if self._settings.events_allow_private_targets:
            return _Target(url=url, headers={}, extensions={})
        try:
            addresses: Sequence[str] = [str(ipaddress.ip_address(url.host))]
        except ValueError:
            port = url.port or (443 if url.scheme == "https" else 80)
            addresses = await self._resolver(url.host, port)
        if not addresses:
            raise OSError("host has no addresses")
        if not all(address_allowed(address) for address in addresses):
            raise TargetNotAllowed
        # Connect to the address just checked, not to whatever a second lookup returns.
        pinned = addresses[0].split("%", 1)[0]
        extensions: dict[str, Any] = {"sni_hostname": url.host} if url.scheme == "https" else {}
        return _Target(
            url=url.copy_with(host=pinned),
            headers={"Host": url.netloc.decode("ascii")},
            extensions=extensions,
        )

    async def _send(self, target: _Target, event: ClaimedEvent, now: datetime) -> _Outcome:
        body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            **target.headers,
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_header([self._secret], int(now.timestamp()), body),
            EVENT_ID_HEADER: str(event.id),
        }
        try:
            response = await self._http.post(
                target.url,
                content=body,
                headers=headers,
                extensions=target.extensions,
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            # The class name only: messages can carry the URL and its credentials.
            return self._failed(event, type(exc).__name__)
        if response.is_success:
            return _Outcome(delivered=True)
        return self._failed(event, f"HTTP {response.status_code}")

    def _failed(self, event: ClaimedEvent, error: str) -> _Outcome:
        return _Outcome(error=error, final=event.attempts >= self._settings.events_max_attempts)

    def _backoff(self, attempts: int) -> timedelta:
        base = self._settings.events_backoff_seconds
        ceiling = self._settings.events_max_backoff_seconds
        return timedelta(seconds=min(ceiling, base * 2 ** min(attempts - 1, 32)))

    async def _record(
        self, claimed: Sequence[ClaimedEvent], outcomes: Sequence[_Outcome], now: datetime
    ) -> None:
        async with self._sessions() as session:
            for event, outcome in zip(claimed, outcomes, strict=True):
                # Only the claim that is still current may write: a row whose lease ran
                # out and was claimed again (attempts moved on) belongs to that claim.
                mine = update(OutgoingEvent).where(
                    OutgoingEvent.id == event.id,
                    OutgoingEvent.status == "PENDING",
                    OutgoingEvent.attempts == event.attempts,
                )
                if outcome.delivered:
                    values: dict[str, Any] = {
                        "status": "DELIVERED",
                        "delivered_at": now,
                        "last_error": None,
                    }
                    log.info("events.delivered", event_id=str(event.id), attempts=event.attempts)
                elif outcome.final:
                    values = {"status": "FAILED", "last_error": outcome.error}
                    if self._on_gave_up is not None:
                        # In the same transaction: the FAILED row and its alert, or neither.
                        await self._on_gave_up(session, event, outcome.error or "")
                    log.error(
                        "events.gave_up",
                        event_id=str(event.id),
                        booking_id=str(event.booking_id),
                        attempts=event.attempts,
                        error=outcome.error,
                    )
                else:
                    values = {
                        "last_error": outcome.error,
                        "next_attempt_at": now + self._backoff(event.attempts),
                    }
                    log.warning(
                        "events.delivery_failed",
                        event_id=str(event.id),
                        attempts=event.attempts,
                        error=outcome.error,
                    )
                await session.execute(mine.values(**values))
            await session.commit()
