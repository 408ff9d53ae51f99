"""Webhook delivery: at least once, signed, retried with capped exponential backoff.

Each event becomes a background task per copy (one, plus ``duplicate`` extra
copies in fault mode). A copy is POSTed until the receiver answers 2xx or
``max_attempts`` is reached; transport errors and non-2xx both count as
failures. Every attempt is re-signed with a fresh timestamp over the same
bytes, and recorded. :meth:`Deliverer.drain` waits for all of it, so tests
await delivery instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from core.signing import sign_header
from sandbox.persistence import StateFile
from sandbox.schemas import Faults
from sandbox.store import Clock, Event, rfc3339

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "Sandbox-Signature"


@dataclass(frozen=True)
class DeliveryPolicy:
    """Where and how webhooks are delivered."""

    url: str
    secrets: Sequence[str]
    max_attempts: int
    initial_backoff: float
    max_backoff: float

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): doubling, capped."""
        return float(min(self.initial_backoff * 2 ** (attempt - 1), self.max_backoff))


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt to deliver one copy of one event."""

    event_id: str
    copy_index: int
    attempt: int
    status_code: int | None
    error: str | None
    retry_in: float | None
    at: str


def encode(event: Event) -> bytes:
    """The exact bytes delivered (and signed) for an event."""
    return json.dumps(event.body, separators=(",", ":"), sort_keys=True).encode()


class Deliverer:
    """Delivers events to one webhook URL and keeps the record of every attempt."""

    def __init__(
        self, policy: DeliveryPolicy, *, clock: Clock, state: StateFile | None = None
    ) -> None:
        self.policy = policy
        # Where undelivered webhooks are kept across restarts (None: in memory only).
        self._state = state
        self.client: httpx.AsyncClient | None = None
        self.faults = Faults()
        self.events: list[Event] = []
        self.attempts: list[Attempt] = []
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        # Reorder mode: events of one order waiting for their window to close.
        self._held: dict[str, list[Event]] = {}

    def enqueue(self, event: Event) -> None:
        """Schedule delivery of ``event`` under the current fault mode (kept until delivered)."""
        if self._state is not None:
            self._state.queue_event(event.id, event.order_id, event.body)
        self.events.append(event)
        faults = self.faults
        if not faults.reorder:
            self._spawn(self._deliver(event, faults, hold=True))
            return
        held = self._held.setdefault(event.order_id, [])
        held.append(event)
        if len(held) == 1:
            self._spawn(self._flush_reversed(event.order_id, faults))

    def resume(self) -> int:
        """Deliver again what an earlier run queued and never delivered; how many."""
        if self._state is None:
            return 0
        pending = self._state.undelivered()
        for event_id, order_id, body in pending:
            self.enqueue(Event(id=event_id, order_id=order_id, body=body))
        return len(pending)

    async def drain(self) -> None:
        """Wait until every queued delivery (retries included) has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop deliveries still pending (kept on disk for the next start, when persisted)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._held.clear()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_reversed(self, order_id: str, faults: Faults) -> None:
        await asyncio.sleep(faults.delay_ms / 1000)
        held = self._held.pop(order_id, [])
        # Newest first, one after another, so the receiver sees them reversed.
        for event in reversed(held):
            await self._deliver(event, faults, hold=False)

    async def _deliver(self, event: Event, faults: Faults, *, hold: bool) -> None:
        if hold and faults.delay_ms:
            await asyncio.sleep(faults.delay_ms / 1000)
        body = encode(event)
        copies = [self._deliver_copy(event, body, i) for i in range(faults.duplicate + 1)]
        await asyncio.gather(*copies)
        if self._state is not None:
            # Delivered, or every attempt used: either way nothing is left to resume.
            self._state.event_done(event.id)

    async def _deliver_copy(self, event: Event, body: bytes, copy_index: int) -> None:
        policy = self.policy
        for attempt in range(1, policy.max_attempts + 1):
            status_code, error = await self._post(body)
            delivered = status_code is not None and 200 <= status_code < 300
            last = attempt == policy.max_attempts
            retry_in = None if delivered or last else policy.backoff(attempt)
            self.attempts.append(
                Attempt(
                    event_id=event.id,
                    copy_index=copy_index,
                    attempt=attempt,
                    status_code=status_code,
                    error=error,
                    retry_in=retry_in,
                    at=rfc3339(self._clock()),
                )
            )
            if delivered:
                return
            if retry_in is None:
                log.warning(
                    "sandbox.webhook.abandoned",
                    event_id=event.id,
                    attempts=attempt,
                    status_code=status_code,
                    error=error,
                )
                return
            await asyncio.sleep(retry_in)

    async def _post(self, body: bytes) -> tuple[int | None, str | None]:
        if self.client is None:
            return None, "no HTTP client: the sandbox app's lifespan has not started"
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_header(self.policy.secrets, int(time.time()), body),
        }
        try:
            response = await self.client.post(self.policy.url, content=body, headers=headers)
        except Exception as exc:
            # Anything from the transport is a failed attempt to retry, never a dead task.
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None
