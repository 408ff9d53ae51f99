"""Query plans of what a service function sends: captured as it runs, explained as sent.

``async with explained(sessions) as plans: await service(...)`` runs the service
for real; every statement it sent is then explained (``EXPLAIN (ANALYZE,
FORMAT JSON)``) with the same parameters on the same connection, so a plan is
the plan of the exact SQL the API runs, not of a copy of it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass
class Explained:
    """The statements a block sent, and then their plans."""

    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    plans: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@asynccontextmanager
async def explained(session: AsyncSession) -> AsyncIterator[Explained]:
    """Capture the SELECTs sent on ``session`` within the block, then explain each."""
    out = Explained()
    connection = await session.connection()

    def seen(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            out.statements.append((statement, tuple(parameters or ())))

    sync = connection.sync_connection
    assert sync is not None
    event.listen(sync, "before_cursor_execute", seen)
    try:
        yield out
    finally:
        event.remove(sync, "before_cursor_execute", seen)
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    for statement, parameters in out.statements:
        value = await driver.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *parameters)
        # The engine's connections decode JSON themselves; a bare one answers text.
        document = json.loads(value) if isinstance(value, str) else value
        out.plans.append((statement, document[0]["Plan"]))


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan, depth first."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def scans_of(plan: dict[str, Any], tables: frozenset[str]) -> list[dict[str, Any]]:
    """The nodes of ``plan`` that read one of ``tables``."""
    return [n for n in nodes(plan) if n.get("Relation Name") in tables]


def rows_read(node: dict[str, Any]) -> float:
    """Rows a scan node looked at: those it returned plus those its filters dropped, all loops."""
    loops = node.get("Actual Loops", 1) or 1
    seen = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
    seen += node.get("Rows Removed by Index Recheck", 0)
    return float(seen * loops)
