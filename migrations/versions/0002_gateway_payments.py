"""Gateway payments: stored webhook events, the gateway transaction ledger, refund bound.

* ``webhook_events`` is unique on (provider, event_id): a replayed delivery
  changes nothing; every event is stored before it is acted on.
* ``gateway_transactions`` records captures and refunds at gateways, one row
  per idempotency key (``{booking_id}:capture:{payment_id}``,
  ``{booking_id}:refund:{payment_id}``).
* ``bookings.refunded_amount`` is a checked counter: refunds never exceed what
  was captured, whatever the path (wallet or gateway).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    ALTER TABLE bookings
        ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0,
        ADD COLUMN payment_order_id text,
        ADD COLUMN checkout_url text,
        ADD COLUMN needs_attention boolean NOT NULL DEFAULT false,
        ADD COLUMN attention_reason text,
        ADD CONSTRAINT bookings_refund_within_capture
            CHECK (refunded_amount >= 0 AND refunded_amount <= captured_amount)
    """,
    """
    CREATE UNIQUE INDEX bookings_payment_order
        ON bookings (payment_provider, payment_order_id) WHERE payment_order_id IS NOT NULL
    """,
    "CREATE INDEX bookings_needs_attention ON bookings (id) WHERE needs_attention",
    """
    CREATE TABLE webhook_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        provider varchar(32) NOT NULL,
        event_id text NOT NULL,
        type varchar(32) NOT NULL,
        raw_type text NOT NULL,
        order_id text,
        payment_id text,
        amount bigint,
        currency char(3),
        booking_id uuid REFERENCES bookings(id),
        status varchar(16) NOT NULL CHECK (status IN
            ('RECEIVED', 'SIGNALLED', 'UNMATCHED', 'WORKFLOW_CLOSED')),
        body jsonb NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT webhook_events_once UNIQUE (provider, event_id)
    )
    """,
    "CREATE INDEX webhook_events_booking ON webhook_events (booking_id, id)",
    "CREATE INDEX webhook_events_unmatched ON webhook_events (id) WHERE status <> 'SIGNALLED'",
    """
    CREATE TABLE gateway_transactions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        booking_id uuid NOT NULL REFERENCES bookings(id),
        provider varchar(32) NOT NULL,
        kind varchar(16) NOT NULL CHECK (kind IN ('capture', 'refund')),
        amount bigint NOT NULL CHECK (amount > 0),
        currency char(3) NOT NULL,
        order_id text,
        payment_id text NOT NULL,
        external_id text,
        status varchar(16) NOT NULL CHECK (status IN
            ('CAPTURED', 'REQUESTED', 'PENDING', 'PROCESSED', 'FAILED')),
        reason text,
        idempotency_key text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX gateway_transactions_booking ON gateway_transactions (booking_id, id)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE gateway_transactions, webhook_events")
    op.execute("DROP INDEX bookings_payment_order, bookings_needs_attention")
    op.execute(
        "ALTER TABLE bookings DROP CONSTRAINT bookings_refund_within_capture,"
        " DROP COLUMN refunded_amount, DROP COLUMN payment_order_id, DROP COLUMN checkout_url,"
        " DROP COLUMN needs_attention, DROP COLUMN attention_reason"
    )
