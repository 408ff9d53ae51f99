"""When a booking's reminders fall due: pure arithmetic over its start and the offsets.

A reminder is due ``offset`` before the start. One whose time had already
passed when the booking was confirmed (or moved) is skipped, never sent late;
a reschedule starts a new set (keyed by the move number), so the reminders
follow the booking to its new time. Deterministic: the workflow calls these
with ``workflow.now()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Reminder:
    """One reminder: which set (the move number) and how long before the start."""

    move: int
    offset: timedelta

    @property
    def about(self) -> str:
        """Tells this reminder's notification from the others (the outbox key)."""
        return f"reminder:{int(self.offset.total_seconds())}s:move:{self.move}"


def reminders_due(
    offsets: list[timedelta],
    starts_at: datetime,
    *,
    move: int,
    since: datetime,
    now: datetime,
    done: set[Reminder],
) -> tuple[list[Reminder], list[Reminder]]:
    """The reminders to send now, and those to skip (their time passed before ``since``).

    Args:
        offsets: How long before the start each reminder goes.
        starts_at: The booking's start.
        move: The current move number (0 before any reschedule).
        since: When this set began: the confirmation, or the latest move.
        now: The workflow's clock.
        done: Reminders already sent or skipped.
    """
    send: list[Reminder] = []
    skip: list[Reminder] = []
    for offset in offsets:
        reminder = Reminder(move, offset)
        at = starts_at - offset
        if reminder in done or at > now:
            continue
        (skip if at < since else send).append(reminder)
    return send, skip


def next_reminder_at(
    offsets: list[timedelta], starts_at: datetime, *, now: datetime
) -> datetime | None:
    """When the next reminder of this set falls due (None: none left after ``now``)."""
    upcoming = [starts_at - offset for offset in offsets if starts_at - offset > now]
    return min(upcoming, default=None)
