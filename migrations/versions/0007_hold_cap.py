"""A customer holds at most a set number of unpaid bookings, and the database says so.

``customer_holds.unpaid`` counts the customer's bookings in HELD or
AWAITING_PAYMENT. A trigger on ``bookings`` keeps it current on every status
change, whoever writes it; ``CHECK (unpaid <= max_unpaid)`` refuses the hold
that would go over. The hold activity writes ``max_unpaid`` (the setting
``BOOKING_MAX_ACTIVE_HOLDS``) in the same transaction, never below the count.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE customer_holds (
        customer_id uuid PRIMARY KEY,
        unpaid integer NOT NULL DEFAULT 0,
        max_unpaid integer NOT NULL,
        CONSTRAINT customer_holds_within_cap CHECK (unpaid >= 0 AND unpaid <= max_unpaid)
    )
    """,
    """
    INSERT INTO customer_holds (customer_id, unpaid, max_unpaid)
    SELECT customer_id, count(*), 2147483647 FROM bookings
     WHERE status IN ('HELD', 'AWAITING_PAYMENT') GROUP BY customer_id
    """,
    """
    CREATE FUNCTION bookings_count_unpaid() RETURNS trigger LANGUAGE plpgsql AS $$
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
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER bookings_count_unpaid AFTER INSERT OR UPDATE OF status ON bookings
    FOR EACH ROW EXECUTE FUNCTION bookings_count_unpaid()
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER bookings_count_unpaid ON bookings")
    op.execute("DROP FUNCTION bookings_count_unpaid()")
    op.execute("DROP TABLE customer_holds")
