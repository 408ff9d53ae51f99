"""The reads `make bench-scale` times: each a GET of the API, aimed from the data itself.

Each :class:`Read` makes one request for one database: a booking and its
owner drawn at random, a typical resource, the busy resources, an alert kind
with open alerts, the coming week. :func:`targets` finds those in a database.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from core.auth import issue_token

Params = dict[str, str | int]


@dataclass
class Targets:
    """What one database's reads aim at."""

    bookings: list[tuple[uuid.UUID, uuid.UUID]]  # (booking, its customer)
    resources: list[uuid.UUID]  # regular slot resources
    busy: uuid.UUID
    busy_range: uuid.UUID
    alert_kind: str
    week: tuple[datetime, datetime]
    year_ago: tuple[datetime, datetime]
    tokens: dict[uuid.UUID, str]
    operator: str
    # Second pages: the cursor after the first page of the operators' list, per customer ledger.
    ops_cursor: str = ""
    ledger_cursors: dict[uuid.UUID, str] | None = None


async def targets(
    conn: asyncpg.Connection, secret: str, busy: uuid.UUID, busy_range: uuid.UUID, now: datetime
) -> Targets:
    """Sample the database: 200 bookings with their owners, the resources, an alert kind."""
    rows = await conn.fetch(
        "SELECT id, customer_id FROM bookings TABLESAMPLE SYSTEM (5) REPEATABLE (7) LIMIT 200"
    )
    if len(rows) < 50:
        rows = await conn.fetch("SELECT id, customer_id FROM bookings ORDER BY id LIMIT 200")
    resources = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM resources WHERE id <> ALL($1::uuid[]) AND booking_mode = 'slots'",
            [busy, busy_range],
        )
    ]
    kind = await conn.fetchval(
        "SELECT kind FROM alerts WHERE resolved_at IS NULL AND booking_id IS NOT NULL"
        " GROUP BY kind ORDER BY count(*) DESC, kind LIMIT 1"
    )
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    customers = {r["customer_id"] for r in rows}
    return Targets(
        bookings=[(r["id"], r["customer_id"]) for r in rows],
        resources=resources,
        busy=busy,
        busy_range=busy_range,
        alert_kind=kind or "MEETING_LINK_FAILING",
        week=(day + timedelta(days=1), day + timedelta(days=8)),
        year_ago=(day - timedelta(days=365), day - timedelta(days=358)),
        tokens={c: issue_token(secret, c, "customer", 4 * 3600) for c in customers},
        operator=issue_token(secret, uuid.uuid4(), "operator", 4 * 3600),
    )


@dataclass(frozen=True)
class Read:
    """One kind of request: its name and how to aim it at a database."""

    name: str
    aim: Callable[[Targets, random.Random], tuple[str, Params, str]]


def _owned(t: Targets, rng: random.Random) -> tuple[uuid.UUID, uuid.UUID, str]:
    booking, customer = rng.choice(t.bookings)
    return booking, customer, t.tokens[customer]


def _window(span: tuple[datetime, datetime]) -> Params:
    return {"from": span[0].isoformat(), "to": span[1].isoformat()}


def _ops(path: str, params: Callable[[Targets, random.Random], Params]) -> Callable[..., Any]:
    return lambda t, rng: (path, params(t, rng), t.operator)


def _mine(path: str, params: Params | None = None) -> Callable[..., Any]:
    def aim(t: Targets, rng: random.Random) -> tuple[str, Params, str]:
        _, _, token = _owned(t, rng)
        return path, dict(params or {}), token

    return aim


def _booking(t: Targets, rng: random.Random) -> tuple[str, Params, str]:
    booking, _, token = _owned(t, rng)
    return f"/v1/bookings/{booking}", {}, token


def _ledger_next(t: Targets, rng: random.Random) -> tuple[str, Params, str]:
    cursors = t.ledger_cursors or {}
    customer = rng.choice(sorted(cursors))
    return "/v1/wallets/me/ledger", {"cursor": cursors[customer]}, t.tokens[customer]


def _availability(busy: Callable[[Targets], uuid.UUID], range_mode: bool) -> Callable[..., Any]:
    def aim(t: Targets, rng: random.Random) -> tuple[str, Params, str]:
        params = _window(t.week)
        if range_mode:
            params |= {"duration_minutes": 60, "step_minutes": 30}
        _, _, token = _owned(t, rng)
        return f"/v1/resources/{busy(t)}/availability", params, token

    return aim


READS: tuple[Read, ...] = (
    Read("booking (owner)", _booking),
    Read("my bookings", _mine("/v1/bookings")),
    Read("my bookings, status=COMPLETED", _mine("/v1/bookings", {"status": "COMPLETED"})),
    Read("ops bookings", _ops("/v1/bookings", lambda t, r: {})),
    Read("ops bookings, page 2", _ops("/v1/bookings", lambda t, r: {"cursor": t.ops_cursor})),
    Read("ops status=CONFIRMED", _ops("/v1/bookings", lambda t, r: {"status": "CONFIRMED"})),
    Read(
        "ops status=AWAITING_PAYMENT",
        _ops("/v1/bookings", lambda t, r: {"status": "AWAITING_PAYMENT"}),
    ),
    Read(
        "ops customer_id",
        _ops("/v1/bookings", lambda t, r: {"customer_id": str(r.choice(t.bookings)[1])}),
    ),
    Read(
        "ops resource_id",
        _ops("/v1/bookings", lambda t, r: {"resource_id": str(r.choice(t.resources))}),
    ),
    Read(
        "ops resource_id, from/to (next week)",
        _ops(
            "/v1/bookings",
            lambda t, r: {"resource_id": str(r.choice(t.resources)), **_window(t.week)},
        ),
    ),
    Read("ops from/to (next week)", _ops("/v1/bookings", lambda t, r: _window(t.week))),
    Read("ops from/to (a year ago)", _ops("/v1/bookings", lambda t, r: _window(t.year_ago))),
    Read("ops attention=<kind>", _ops("/v1/bookings", lambda t, r: {"attention": t.alert_kind})),
    Read(
        "ops needs_attention=true", _ops("/v1/bookings", lambda t, r: {"needs_attention": "true"})
    ),
    Read("availability, busy room (week)", _availability(lambda t: t.busy, False)),
    Read("availability, busy car (week)", _availability(lambda t: t.busy_range, True)),
    Read(
        "slots of the busy room (week)",
        _ops("/v1/slots", lambda t, r: {"resource_id": str(t.busy), **_window(t.week)}),
    ),
    Read("my wallet", _mine("/v1/wallets/me")),
    Read("my ledger", _mine("/v1/wallets/me/ledger")),
    Read("my ledger, page 2", _ledger_next),
    Read(
        "ops wallet ledger",
        _ops("/v1/ops/wallets/{c}/ledger", lambda t, r: {}),
    ),
    Read("ops alerts", _ops("/v1/ops/alerts", lambda t, r: {})),
    Read("ops alerts, open", _ops("/v1/ops/alerts", lambda t, r: {"status": "open"})),
    Read(
        "ops alerts, open, kind",
        _ops("/v1/ops/alerts", lambda t, r: {"status": "open", "kind": t.alert_kind}),
    ),
    Read("ops alerts, resolved", _ops("/v1/ops/alerts", lambda t, r: {"status": "resolved"})),
    Read("ops alerts, kind", _ops("/v1/ops/alerts", lambda t, r: {"kind": t.alert_kind})),
    Read(
        "ops webhook events, UNMATCHED",
        _ops("/v1/ops/webhook-events", lambda t, r: {"status": "UNMATCHED"}),
    ),
)


def resolve(path: str, t: Targets, rng: random.Random) -> str:
    """Fill a path's ``{c}`` with a sampled customer."""
    return path.replace("{c}", str(rng.choice(t.bookings)[1])) if "{c}" in path else path
