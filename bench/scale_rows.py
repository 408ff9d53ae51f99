"""Rows for COPY from drawn bookings: slots, bookings, timelines, ledger, gateway rows, alerts.

The builder keeps what the rows add up to (each wallet's balance, each
customer's unpaid holds), so the generator writes those totals itself.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import scale_plan as sp
from models.domain import AttentionKind, severity_of

Row = tuple[Any, ...]

COLUMNS: dict[str, tuple[str, ...]] = {
    "slots": (
        "id", "resource_id", "starts_at", "ends_at", "price_amount", "currency", "capacity",
        "active_count", "created_at",
    ),
    "bookings": (
        "id", "customer_id", "slot_id", "resource_id", "resource_seq", "status", "reason",
        "amount", "currency", "payment_method", "payment_provider", "payment_status",
        "captured_amount", "refunded_amount", "payment_order_id", "checkout_url",
        "needs_attention", "attention_reason", "meeting_status", "meeting_url",
        "meeting_provider", "workflow_id", "exclusive", "hold_expires_at", "starts_at",
        "ends_at", "blocked_until", "created_at", "updated_at",
    ),
    "booking_events": ("booking_id", "key", "type", "data", "at"),
    "ledger_entries": (
        "customer_id", "currency", "amount", "kind", "booking_id", "idempotency_key", "reason",
        "actor", "created_at",
    ),
    "gateway_transactions": (
        "booking_id", "provider", "kind", "amount", "currency", "order_id", "payment_id",
        "external_id", "status", "reason", "idempotency_key", "created_at", "updated_at",
    ),
    "webhook_events": (
        "provider", "event_id", "type", "raw_type", "order_id", "payment_id", "amount",
        "currency", "booking_id", "status", "body", "received_at",
    ),
    "alerts": (
        "id", "kind", "severity", "subject", "booking_id", "details", "occurrences", "opened_at",
        "last_seen_at", "resolved_at", "resolved_by", "resolution_note",
    ),
    "wallets": ("customer_id", "currency", "balance", "updated_at"),
    "customer_holds": ("customer_id", "unpaid", "max_unpaid"),
}  # fmt: skip

CURRENCY = "INR"
STATUS = ("COMPLETED", "CONFIRMED", "CANCELLED", "EXPIRED", "FAILED", "AWAITING_PAYMENT")
# Alerts about a booking, and how often a booking has one; one in ten is still open.
BOOKING_ALERTS = (
    AttentionKind.MEETING_LINK_FAILING,
    AttentionKind.REFUND_FAILING,
    AttentionKind.NOTIFICATION_FAILED,
    AttentionKind.STATUS_MISMATCH,
    AttentionKind.PAYMENT_MISMATCH,
    AttentionKind.STEP_FAILING,
)
OPEN_RATE, UNMATCHED_RATE = 0.1, 0.001
OPERATOR = "operator:5b0c8a52-2f7e-4c47-9d1a-6f0e3b1d7c11"


@dataclass
class Rows:
    """One chunk's rows, per table."""

    slots: list[Row] = field(default_factory=list)
    bookings: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    ledger: list[Row] = field(default_factory=list)
    gateway: list[Row] = field(default_factory=list)
    webhooks: list[Row] = field(default_factory=list)
    alerts: list[Row] = field(default_factory=list)


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class RowBuilder:
    """Builds rows from draws and keeps the totals they add up to."""

    def __init__(
        self, rng: random.Random, customers: list[uuid.UUID], now: float, alert_rate: float
    ) -> None:
        self.rng = rng
        self.alert_rate = alert_rate
        self.customers = customers
        self.now = now
        self.balances = [0] * len(customers)
        self.unpaid: dict[int, int] = {}
        # (id, seq, meeting provider) per resource, set once they are inserted.
        self.resources: list[tuple[uuid.UUID, int, str]] = []

    def new_id(self) -> uuid.UUID:
        """A random (version 4) UUID from the seeded generator."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _entry(
        self, c: int, amount: int, kind: str, booking: uuid.UUID | None, key: str, at: float
    ) -> Row:
        self.balances[c] += amount
        reason = {"credit": "top-up", "refund": "cancelled"}.get(kind)
        actor = OPERATOR if kind == "credit" else None
        return (self.customers[c], CURRENCY, amount, kind, booking, key, reason, actor, _at(at))

    def opening_credit(self, c: int, amount: int, first: float) -> Row:
        """The customer's first entry: a credit that covers every debit after it."""
        key = f"credit:{self.customers[c]}:{self.new_id()}"
        return self._entry(c, amount, "credit", None, key, first - sp.DAY)

    def credits(self, count: int, start: float, end: float) -> list[Row]:
        """``count`` top-up credits to random customers between ``start`` and ``end``."""
        rng, out = self.rng, []
        n = len(self.customers)
        for _ in range(count):
            c = int(n * rng.random() ** 2)
            key = f"credit:{self.customers[c]}:{self.new_id()}"
            amount = rng.randrange(10_000, 500_000, 100)
            out.append(self._entry(c, amount, "credit", None, key, rng.uniform(start, end)))
        return out

    def free_slots(self, free: list[tuple[int, float, float]]) -> Iterator[Row]:
        """Slots nobody booked."""
        for res, starts, ends in free:
            rid, _, _ = self.resources[res]
            yield (self.new_id(), rid, _at(starts), _at(ends), 50_000, CURRENCY, 1, 0, _at(starts))

    def wallets(self, currency: str, moment: datetime) -> Iterator[Row]:
        """Each customer's wallet, its balance the sum of its entries."""
        for c, customer in enumerate(self.customers):
            yield (customer, currency, self.balances[c], moment)

    def holds(self) -> Iterator[Row]:
        """The unpaid-holds counter of each customer who has unpaid bookings."""
        for c, unpaid in self.unpaid.items():
            yield (self.customers[c], unpaid, 3)

    def bookings(self, draws: list[sp.Draw]) -> Rows:
        """Every row a chunk of bookings needs."""
        rows = Rows()
        for d in draws:
            self._booking(rows, d)
        return rows

    def _booking(self, rows: Rows, d: sp.Draw) -> None:
        rng, bid = self.rng, self.new_id()
        rid, seq, meeting_provider = self.resources[d.resource]
        status = STATUS[d.status]
        active = d.status in (sp.CONFIRMED, sp.AWAITING)
        ranged = d.resource == 1
        slot_id = None if ranged else self.new_id()
        if slot_id is not None:
            rows.slots.append(
                (slot_id, rid, _at(d.starts), _at(d.ends), d.amount, CURRENCY, 1, int(active),
                 _at(d.created - sp.DAY))
            )  # fmt: skip
        paid = d.status in (sp.COMPLETED, sp.CONFIRMED, sp.CANCELLED)
        gateway = d.method == sp.GATEWAY
        provider = sp.PROVIDERS[d.provider] if gateway else None
        refunded = d.amount * d.refund_percent // 100
        order = f"order_{bid.hex[:20]}" if gateway else None
        payment = f"pay_{bid.hex[12:32]}"
        events = [("booking.held", d.created)]
        reason = None
        if paid:
            events.append(("booking.confirmed", d.created + 1))
            if gateway:
                self._gateway(rows, bid, provider, order, payment, d)
            else:
                rows.ledger.append(
                    self._entry(d.customer, -d.amount, "debit", bid, f"{bid}:debit", d.created + 1)
                )
        if d.status == sp.CANCELLED:
            events.append(("booking.cancelled", d.cancelled))
            if not gateway:
                key = f"{bid}:refund"
                rows.ledger.append(
                    self._entry(d.customer, refunded, "refund", bid, key, d.cancelled)
                )
        elif d.status == sp.COMPLETED:
            events.append(("booking.completed", d.ends))
        elif d.status == sp.EXPIRED:
            reason = "PAYMENT_WINDOW_EXPIRED"
            events.append(("booking.expired", d.created + 600))
        elif d.status == sp.FAILED:
            reason = "INSUFFICIENT_FUNDS"
            events.append(("booking.failed", d.created + 1))
        elif d.status == sp.AWAITING:
            self.unpaid[d.customer] = self.unpaid.get(d.customer, 0) + 1
        pay_status = {
            sp.COMPLETED: "CAPTURED",
            sp.CONFIRMED: "CAPTURED",
            sp.CANCELLED: "REFUNDED" if d.refund_percent == 100 else "PARTIALLY_REFUNDED",
            sp.AWAITING: "PENDING",
        }.get(d.status, "FAILED")
        meeting = (
            "READY" if paid and d.status != sp.CANCELLED
            else "PENDING" if d.status == sp.AWAITING else "CANCELLED"
        )  # fmt: skip
        attention = self._alerts(rows, bid, d) if rng.random() < self.alert_rate else None
        last = max(t for _, t in events)
        rows.bookings.append(
            (bid, self.customers[d.customer], slot_id, rid, seq, status, reason, d.amount,
             CURRENCY, "gateway" if gateway else "wallet", provider, pay_status,
             d.amount if paid else 0, refunded, order,
             f"https://pay.example/{order}" if gateway else None, attention is not None,
             attention, meeting, f"https://meet.jit.si/{bid}" if meeting == "READY" else None,
             meeting_provider, f"booking-{bid}", True,
             _at(d.created + 600) if d.status == sp.AWAITING else None, _at(d.starts),
             _at(d.ends), _at(d.ends + (sp.RANGE_BUFFER if ranged else 0)), _at(d.created),
             _at(min(last, self.now)))
        )  # fmt: skip
        for kind, at in events:
            rows.events.append((bid, f"{bid}:{kind}", kind, "{}", _at(min(at, self.now))))
        if rng.random() < UNMATCHED_RATE:
            self._unmatched(rows, d)

    def _gateway(
        self, rows: Rows, bid: uuid.UUID, provider: str | None, order: str | None, payment: str,
        d: sp.Draw,
    ) -> None:  # fmt: skip
        at = _at(d.created + 30)
        rows.gateway.append(
            (bid, provider, "capture", d.amount, CURRENCY, order, payment, payment, "CAPTURED",
             None, f"{bid}:capture:{payment}", at, at)
        )  # fmt: skip
        rows.webhooks.append(
            (provider, f"evt_{bid.hex}", "payment.captured", "payment.captured", order, payment,
             d.amount, CURRENCY, bid, "SIGNALLED", "{}", at)
        )  # fmt: skip
        if d.status == sp.CANCELLED:
            refunded = d.amount * d.refund_percent // 100
            cancelled = _at(d.cancelled)
            rows.gateway.append(
                (bid, provider, "refund", refunded, CURRENCY, order, payment, f"re_{bid.hex[:16]}",
                 "PROCESSED", "cancelled", f"{bid}:refund:{payment}", cancelled, cancelled)
            )  # fmt: skip

    def _alerts(self, rows: Rows, bid: uuid.UUID, d: sp.Draw) -> str | None:
        """An alert about the booking; its details when it is still open."""
        rng = self.rng
        kind = rng.choice(BOOKING_ALERTS)
        opened = min(d.created + rng.uniform(60, 2 * sp.DAY), self.now - 1)
        details = f"{kind.value.lower().replace('_', ' ')} for booking {bid}"
        is_open = rng.random() < OPEN_RATE
        resolved = None if is_open else _at(min(opened + rng.uniform(60, sp.DAY), self.now))
        rows.alerts.append(
            (self.new_id(), kind.value, severity_of(kind).value, str(bid), bid, details, 1,
             _at(opened), _at(opened), resolved, None if is_open else OPERATOR,
             None if is_open else "handled")
        )  # fmt: skip
        return details if is_open else None

    def _unmatched(self, rows: Rows, d: sp.Draw) -> None:
        """A gateway event for an order the engine does not know, and its alert."""
        rng, provider = self.rng, sp.PROVIDERS[d.provider]
        event = f"evt_{self.new_id().hex}"
        at = min(d.created + 5, self.now - 1)
        rows.webhooks.append(
            (provider, event, "payment.captured", "payment.captured", f"order_{event[4:24]}",
             None, d.amount, CURRENCY, None, "UNMATCHED", "{}", _at(at))
        )  # fmt: skip
        kind = AttentionKind.WEBHOOK_UNMATCHED
        is_open = rng.random() < 0.5
        resolved = None if is_open else _at(min(at + sp.HOUR, self.now))
        rows.alerts.append(
            (self.new_id(), kind.value, severity_of(kind).value, f"{provider}:{event}", None,
             f"{provider} event {event} names no known order", 1, _at(at), _at(at), resolved,
             None if is_open else OPERATOR, None if is_open else "not ours")
        )  # fmt: skip
