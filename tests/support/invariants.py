"""What must hold in the database at any moment, whatever ran or crashed: each query lists breaches.

Shared by the per-test check (``tests/conftest.py``) and the fault suite,
which runs them against a stack whose processes it kills.
"""

from __future__ import annotations

INVARIANTS: dict[str, str] = {
    "wallet balance differs from its ledger": """
        SELECT w.customer_id, w.currency, w.balance, COALESCE(SUM(l.amount), 0) AS sum
          FROM wallets w LEFT JOIN ledger_entries l
            ON l.customer_id = w.customer_id AND l.currency = w.currency
         GROUP BY w.customer_id, w.currency, w.balance
        HAVING w.balance <> COALESCE(SUM(l.amount), 0)
    """,
    "slot counters disagree with bookings": """
        SELECT s.id, s.active_count, COUNT(b.id) AS active
          FROM slots s LEFT JOIN bookings b
            ON b.slot_id = s.id
           AND b.status IN ('HELD', 'AWAITING_PAYMENT', 'CONFIRMED')
         GROUP BY s.id, s.active_count, s.capacity
        HAVING s.active_count <> COUNT(b.id) OR COUNT(b.id) > s.capacity
    """,
    "unpaid-hold counters disagree with bookings": """
        SELECT h.customer_id, h.unpaid, COUNT(b.id) AS counted
          FROM customer_holds h LEFT JOIN bookings b
            ON b.customer_id = h.customer_id
           AND b.status IN ('HELD', 'AWAITING_PAYMENT')
         GROUP BY h.customer_id, h.unpaid
        HAVING h.unpaid <> COUNT(b.id)
    """,
    "wallet refunds of a booking exceed its debits": """
        SELECT booking_id FROM ledger_entries
         WHERE booking_id IS NOT NULL
         GROUP BY booking_id
        HAVING COALESCE(SUM(amount) FILTER (WHERE kind = 'refund'), 0)
             > -COALESCE(SUM(amount) FILTER (WHERE kind = 'debit'), 0)
    """,
    "gateway refunds exceed what was captured": """
        SELECT booking_id, payment_id FROM gateway_transactions
         GROUP BY booking_id, payment_id
        HAVING COALESCE(SUM(amount) FILTER (WHERE kind = 'refund'), 0)
             > COALESCE(SUM(amount) FILTER (WHERE kind = 'capture'), 0)
    """,
}
