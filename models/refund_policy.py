"""How much of a payment goes back when a booking is cancelled. Pure and deterministic."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field


class RefundPolicy(BaseModel):
    """Full refund until ``full_refund_hours_before`` the start, then a percentage, none after."""

    model_config = ConfigDict(frozen=True)

    full_refund_hours_before: int = Field(default=24, ge=0)
    late_refund_percent: int = Field(default=50, ge=0, le=100)


def refund_amount(
    policy: RefundPolicy, *, captured: int, starts_at: datetime, cancelled_at: datetime
) -> int:
    """The refund, in minor units, for a cancellation at ``cancelled_at``.

    Late refunds round down to a whole minor unit, so a refund never exceeds
    the percentage (nor, ever, the captured amount).
    """
    if captured <= 0 or cancelled_at >= starts_at:
        return 0
    if starts_at - cancelled_at >= timedelta(hours=policy.full_refund_hours_before):
        return captured
    return captured * policy.late_refund_percent // 100
