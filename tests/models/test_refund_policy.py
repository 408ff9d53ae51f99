"""The refund policy: full refund early, a percentage late, nothing after the start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.refund_policy import RefundPolicy, refund_amount

START = datetime(2026, 12, 1, 10, tzinfo=UTC)
POLICY = RefundPolicy(full_refund_hours_before=24, late_refund_percent=50)


@pytest.mark.parametrize(
    ("before_start", "expected"),
    [
        (timedelta(days=3), 10_001),
        (timedelta(hours=24), 10_001),
        (timedelta(hours=23, minutes=59), 5_000),
        (timedelta(seconds=1), 5_000),
        (timedelta(0), 0),
        (-timedelta(hours=1), 0),
    ],
)
def test_refund_depends_on_how_early_the_cancellation_is(
    before_start: timedelta, expected: int
) -> None:
    """At least N hours before: all of it; later: the percentage, rounded down; after: none."""
    assert (
        refund_amount(POLICY, captured=10_001, starts_at=START, cancelled_at=START - before_start)
        == expected
    )


def test_nothing_captured_means_nothing_refunded() -> None:
    """An unpaid booking refunds nothing, whatever the policy."""
    assert (
        refund_amount(POLICY, captured=0, starts_at=START, cancelled_at=START - timedelta(days=9))
        == 0
    )
