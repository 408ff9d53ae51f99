"""How much `make bench` measures (the quick and the full plan), and the systems it compares."""

from __future__ import annotations

from dataclasses import dataclass

# The closed loop's round order: each system both early and late in a round,
# so a machine that drifts during the run drifts for all of them alike.
ORDER = ["A", "B", "R", "C", "C", "R", "B", "A"]
SYSTEMS = "ABRC"
NAMES = {
    "A": "A baseline (FastAPI + asyncpg, one transaction)",
    "B": "B Temporal floor (empty workflow, Update-with-Start, behind its own HTTP API)",
    "R": "R raw floor (the same, called in-process, worker in the caller's process)",
    "C": "C engine (POST /v1/bookings, wallet)",
}


@dataclass(frozen=True)
class Plan:
    """How much of everything to measure."""

    mode: str
    rounds: int
    clients: tuple[int, ...]
    seconds: float
    open_seconds: float
    open_order: tuple[str, ...]
    contention: int
    growth: tuple[int, ...]
    growth_requests: int
    webhooks: int
    cost_seconds: float
    settle: float
    availability_requests: int


QUICK = Plan(
    "quick", 1, (1, 16), 2.5, 2.0, ("A", "B", "R", "C"), 200, (1_000,), 15, 10, 2.0, 0.3, 20
)
FULL = Plan(
    "full",
    3,
    (1, 4, 16, 64),
    5.0,
    5.0,
    tuple(ORDER),
    1_000,
    (1_000, 100_000),
    100,
    50,
    8.0,
    1.0,
    100,
)
