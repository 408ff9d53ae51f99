"""The booking as the API shows it: one statement, one snapshot, times in UTC."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select, text

from api.views import booking_view
from core.db import SessionFactory
from models.db import GatewayTransaction, LedgerEntry
from store.ledger import append_ledger_entry
from store.timeline import Step, record_events

from support.db import insert_confirmed_booking, statements_sent, timeline_of


async def test_booking_view_is_one_statement_with_its_timeline_and_refunds_in_utc(
    sessions: SessionFactory,
) -> None:
    """Timeline and refunds come with the booking in one read, whatever the server's TimeZone."""
    booking_id = await insert_confirmed_booking(sessions)
    async with sessions() as session:
        customer = (
            await session.execute(
                text("SELECT customer_id FROM bookings WHERE id = :id"), {"id": booking_id}
            )
        ).scalar_one()
        # Written first, yet listed after the wallet's: wallet refunds, then the gateway's.
        for kind, status in (("capture", "CAPTURED"), ("refund", "PENDING")):
            session.add(
                GatewayTransaction(
                    booking_id=booking_id,
                    provider="sandbox",
                    kind=kind,
                    amount=60,
                    currency="INR",
                    payment_id="pay_1",
                    status=status,
                    reason="cancellation",
                    idempotency_key=f"{booking_id}:gateway-{kind}",
                )
            )
        await session.flush()
        for kind, amount in (("credit", 100), ("debit", -100), ("refund", 40)):
            await append_ledger_entry(
                session,
                customer_id=customer,
                currency="INR",
                amount=amount,
                kind=kind,
                idempotency_key=f"{booking_id}:{kind}",
                booking_id=None if kind == "credit" else booking_id,
                reason="cancellation" if kind == "refund" else kind,
            )
        await record_events(
            session,
            booking_id,
            Step("booking.cancelled", {"reason": "x"}),
            Step("payment.refunded"),
        )
        await session.commit()
    async with sessions() as session:
        await session.execute(text("SET TIME ZONE 'Asia/Kolkata'"))
        with statements_sent(sessions) as statements:
            view = await booking_view(session, booking_id)
        refund = (
            await session.execute(
                select(LedgerEntry).where(
                    LedgerEntry.booking_id == booking_id, LedgerEntry.kind == "refund"
                )
            )
        ).scalar_one()

    assert len(statements) == 1
    assert view is not None
    timeline = await timeline_of(sessions, booking_id)
    assert [(e.type, e.at) for e in view.timeline] == [(e.type, e.at) for e in timeline]
    assert all(e.at.utcoffset() == UTC.utcoffset(None) for e in view.timeline)
    given, by_gateway = view.refunds
    assert (given.amount.amount, given.method, given.status, given.reason) == (
        40,
        "wallet",
        "PROCESSED",
        "cancellation",
    )
    assert given.at == refund.created_at
    assert (by_gateway.amount.amount, by_gateway.method, by_gateway.status) == (
        60,
        "sandbox",
        "PENDING",
    )
    assert view.payment.captured.amount == 100
