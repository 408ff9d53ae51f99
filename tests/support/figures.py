"""What a fault test did and how long the engine took to settle, and every API answer it got.

Each test of the fault suite fills a :class:`Figures` and prints it (``pytest -s``
shows the lines); the figures in docs/development.md come from these lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Answer:
    """One API answer: what was asked, its status, its Retry-After, when it was sent and heard."""

    method: str
    path: str
    status: int
    retry_after: str | None
    sent: float
    heard: float


@dataclass
class Figures:
    """The figures of one fault scenario."""

    scenario: str
    bookings: int = 0
    kills: int = 0
    outages: list[float] = field(default_factory=list)
    # Requests to Temporal itself, as the UI's buttons send them (cancel, terminate, reset).
    temporal: int = 0
    settle_seconds: float | None = None
    answers: list[Answer] = field(default_factory=list)
    counting: bool = False

    @property
    def requests(self) -> int:
        """Requests sent to the API while counting (the fault phase, not the set-up)."""
        return len(self.answers)

    def unavailable(self) -> int:
        """How many of them were answered 503."""
        return sum(1 for a in self.answers if a.status == 503)

    def line(self) -> str:
        """The figures in one line."""
        outages = ", ".join(f"{s:.1f} s" for s in self.outages) or "none"
        settle = "-" if self.settle_seconds is None else f"{self.settle_seconds:.1f} s"
        return (
            f"[figures] {self.scenario}: {self.bookings} bookings, {self.kills} kills, "
            f"outages {outages}, {self.requests} API requests ({self.unavailable()} answered 503), "
            f"{self.temporal} Temporal requests, settled in {settle}"
        )

    def show(self) -> None:
        """Print the line (seen with ``pytest -s``)."""
        print(f"\n{self.line()}")

    def client(self, base_url: str) -> httpx.AsyncClient:
        """An API client whose answers are recorded while ``counting`` is on."""

        async def sent(request: httpx.Request) -> None:
            request.extensions["sent_at"] = time.monotonic()

        async def heard(response: httpx.Response) -> None:
            if not self.counting:
                return
            request = response.request
            started: Any = request.extensions.get("sent_at", time.monotonic())
            self.answers.append(
                Answer(
                    request.method,
                    request.url.path,
                    response.status_code,
                    response.headers.get("Retry-After"),
                    float(started),
                    time.monotonic(),
                )
            )

        return httpx.AsyncClient(
            base_url=base_url,
            timeout=90,
            event_hooks={"request": [sent], "response": [heard]},
        )

    def assert_never_a_server_error_but_503(self) -> None:
        """Every answer is below 500, or 503 with a Retry-After."""
        wrong = [
            a for a in self.answers if a.status >= 500 and (a.status != 503 or not a.retry_after)
        ]
        assert wrong == [], wrong

    def assert_refused_with_retry_after(self, down: float, up: float) -> list[Answer]:
        """Every request sent and answered while a dependency was down: 503 with Retry-After.

        Returns those answers; there must be some, or the outage was never seen.
        """
        inside = [a for a in self.answers if a.sent >= down and a.heard <= up]
        assert inside, "no request was answered during the outage"
        wrong = [a for a in inside if a.status != 503 or not a.retry_after]
        assert wrong == [], wrong
        return inside
