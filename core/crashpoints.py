"""Named side-effect boundaries where the fault suite makes a process die.

``BOOKING_CRASH_AT`` names one or more points (comma-separated) and
``BOOKING_CRASH_MARKER_DIR`` a directory. The first time a process passes a
named point it writes ``<dir>/<point>`` and kills itself with SIGKILL: no
cleanup, no flush, no reply, as an OOM kill or a power cut would. A point
whose marker exists is passed, so the restarted process goes on. Unset (as
in production), :func:`crash_point` is a set lookup and nothing else.

The points sit right after a commit or an external call whose result the
caller has not yet seen: the places where a crash could lose or double a
side effect if a step were not idempotent.
"""

from __future__ import annotations

import os
import signal
from enum import StrEnum
from functools import cache
from pathlib import Path


class CrashPoint(StrEnum):
    """Where a worker can be told to die."""

    HOLD_COMMITTED = "hold_committed"
    DEBIT_COMMITTED = "debit_committed"
    CAPTURE_RECORDED = "capture_recorded"
    WALLET_REFUND_COMMITTED = "wallet_refund_committed"
    GATEWAY_REFUND_SENT = "gateway_refund_sent"
    MOVE_COMMITTED = "move_committed"


@cache
def _armed() -> tuple[frozenset[str], Path | None]:
    points = frozenset(p.strip() for p in os.environ.get("BOOKING_CRASH_AT", "").split(",") if p)
    marker_dir = os.environ.get("BOOKING_CRASH_MARKER_DIR")
    return points, Path(marker_dir) if marker_dir else None


def crash_point(point: CrashPoint) -> None:
    """Die here with SIGKILL if the fault suite armed ``point`` and it has not fired yet."""
    points, marker_dir = _armed()
    if point.value not in points or marker_dir is None:
        return
    marker = marker_dir / point.value
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
