"""The unpaid-holds cap also refuses a booking written already paid.

A wallet booking whose balance covers its price is written CONFIRMED, with its
debit, in the transaction that takes its capacity: it is never HELD, so the
counter of 0007 never counts it. It is still "the next" booking of a customer
at the cap, and the cap refuses it as it refused its hold: the trigger raises
the same check violation (``customer_holds_within_cap``) when such a row is
inserted while the customer's unpaid count is at the cap. The hold activity
locks the customer's ``customer_holds`` row earlier in the same transaction
(its cap upsert), so the count read here cannot move before the commit.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COUNT = """
    CREATE OR REPLACE FUNCTION bookings_count_unpaid() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        was_unpaid boolean := TG_OP = 'UPDATE' AND OLD.status IN ('HELD', 'AWAITING_PAYMENT');
        is_unpaid boolean := NEW.status IN ('HELD', 'AWAITING_PAYMENT');
    BEGIN
        IF is_unpaid AND NOT was_unpaid THEN
            INSERT INTO customer_holds AS h (customer_id, unpaid, max_unpaid)
            VALUES (NEW.customer_id, 1, 2147483647)
            ON CONFLICT (customer_id) DO UPDATE SET unpaid = h.unpaid + 1;
        ELSIF was_unpaid AND NOT is_unpaid THEN
            UPDATE customer_holds SET unpaid = unpaid - 1 WHERE customer_id = NEW.customer_id;
        %s
        END IF;
        RETURN NEW;
    END
    $$
"""

_PAID_INSERT = """
        ELSIF TG_OP = 'INSERT' AND NEW.status = 'CONFIRMED' THEN
            PERFORM FROM customer_holds
             WHERE customer_id = NEW.customer_id AND unpaid >= max_unpaid;
            IF FOUND THEN
                RAISE EXCEPTION 'customer % is at the cap of unpaid bookings', NEW.customer_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'customer_holds_within_cap',
                      TABLE = 'customer_holds';
            END IF;
"""


def upgrade() -> None:
    op.execute(_COUNT % _PAID_INSERT)


def downgrade() -> None:
    op.execute(_COUNT % "")
