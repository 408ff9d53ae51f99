"""The engine's workflow metrics, through the SDK's replay-aware meter (worker endpoint).

``workflow.metric_meter()`` records nothing while a history is replayed, so a
booking counts once per transition however often its workflow is rebuilt.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.domain import BookingStatus
    from models.payloads import RefundInfo


def count_booking(status: BookingStatus, reason: str | None) -> None:
    """One booking reached ``status`` (``booking_bookings_total{status,reason}``)."""
    # The worker's endpoint adds ``_total`` to counters (core/metrics.py).
    workflow.metric_meter().create_counter(
        "booking_bookings", "Bookings reaching each status, with the reason of an ending."
    ).add(1, {"status": status.value, "reason": reason or ""})


def count_refund(refund: RefundInfo) -> None:
    """One refund made, pending or owed (``booking_refunds_total{method,result}``)."""
    workflow.metric_meter().create_counter(
        "booking_refunds", "Refunds by method (wallet or the gateway) and result."
    ).add(1, {"method": refund.method, "result": refund.status.value.lower()})
