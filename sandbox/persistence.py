"""The sandbox's state on disk: orders, payments, refunds and webhooks not yet delivered.

One SQLite file in the data directory (``sandbox.db``), written through on
every change while the store holds its lock, so a restart in the middle of a
checkout finds the order, lets the customer pay, and delivers the webhooks
that were still queued. Without a path the sandbox keeps everything in memory
(the tests' default).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    body TEXT NOT NULL,
    seq INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
);
"""


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$dt"}:
        return datetime.fromisoformat(obj["$dt"])
    return obj


class StateFile:
    """Records by kind and id, and the webhook outbox, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def save(self, kind: str, record_id: str, record: object) -> None:
        """Write (or replace) one record: a dataclass or a JSON-able value."""
        body = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record  # type: ignore[arg-type]
        self._db.execute(
            "INSERT OR REPLACE INTO records (kind, id, body) VALUES (?, ?, ?)",
            (kind, record_id, json.dumps(body, default=_encode)),
        )

    def load(self, kind: str, into: type[_T]) -> list[_T]:
        """Every record of ``kind``, built as ``into``, in insertion order."""
        rows = self._db.execute(
            "SELECT body FROM records WHERE kind = ? ORDER BY rowid", (kind,)
        ).fetchall()
        return [into(**json.loads(body, object_hook=_decode)) for (body,) in rows]

    def load_raw(self, kind: str) -> list[tuple[str, Any]]:
        """Every record of ``kind`` as stored: (id, decoded JSON)."""
        rows = self._db.execute(
            "SELECT id, body FROM records WHERE kind = ? ORDER BY rowid", (kind,)
        ).fetchall()
        return [(record_id, json.loads(body, object_hook=_decode)) for record_id, body in rows]

    def queue_event(self, event_id: str, order_id: str, body: dict[str, Any]) -> None:
        """Keep a webhook until it is delivered (or given up)."""
        self._db.execute(
            "INSERT OR IGNORE INTO outbox (event_id, order_id, body, seq) "
            "VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox))",
            (event_id, order_id, json.dumps(body)),
        )

    def event_done(self, event_id: str) -> None:
        """The webhook was delivered, or its attempts are used up."""
        self._db.execute("UPDATE outbox SET delivered = 1 WHERE event_id = ?", (event_id,))

    def undelivered(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Webhooks still to deliver, oldest first: (event id, order id, body)."""
        rows = self._db.execute(
            "SELECT event_id, order_id, body FROM outbox WHERE delivered = 0 ORDER BY seq"
        ).fetchall()
        return [(event_id, order_id, json.loads(body)) for event_id, order_id, body in rows]

    def close(self) -> None:
        """Close the file."""
        self._db.close()
