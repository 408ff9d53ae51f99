"""Wallet top-ups paid through a gateway.

* ``topups``: one row per top-up (its order, its window, its status); the
  capture credits the wallet once (ledger kind ``topup``, key ``{id}:credit``).
* ``topup_days``: what one customer asked to top up in one currency on one
  day, capped by ``CHECK (total <= cap)``: the daily limit is enforced by the
  database, not by a read.
* Gateway rows and webhook events belong to a booking or to a top-up.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE topups (
        id uuid PRIMARY KEY,
        customer_id uuid NOT NULL,
        amount bigint NOT NULL CHECK (amount > 0),
        currency char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        provider varchar(32) NOT NULL,
        status varchar(32) NOT NULL CHECK (status IN
            ('PENDING', 'AWAITING_PAYMENT', 'CREDITED', 'EXPIRED', 'FAILED')),
        reason varchar(64),
        order_id text,
        checkout_url text,
        expires_at timestamptz,
        payment_id text,
        refunded_amount bigint NOT NULL DEFAULT 0
            CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
        workflow_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE UNIQUE INDEX topups_order ON topups (provider, order_id)",
    "CREATE INDEX topups_customer ON topups (customer_id, created_at DESC, id DESC)",
    """
    CREATE TABLE topup_days (
        customer_id uuid NOT NULL,
        day date NOT NULL,
        currency char(3) NOT NULL,
        total bigint NOT NULL,
        cap bigint NOT NULL,
        PRIMARY KEY (customer_id, day, currency),
        CONSTRAINT topup_days_within_cap CHECK (total <= cap)
    )
    """,
    "ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check",
    "ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check"
    " CHECK (kind IN ('credit', 'debit', 'refund', 'topup', 'topup_refund'))",
    "ALTER TABLE ledger_entries ADD COLUMN topup_id uuid REFERENCES topups (id)",
    "ALTER TABLE gateway_transactions ALTER COLUMN booking_id DROP NOT NULL",
    "ALTER TABLE gateway_transactions ADD COLUMN topup_id uuid REFERENCES topups (id)",
    "ALTER TABLE gateway_transactions ADD CONSTRAINT gateway_transactions_one_owner"
    " CHECK ((booking_id IS NULL) <> (topup_id IS NULL))",
    "ALTER TABLE webhook_events ADD COLUMN topup_id uuid REFERENCES topups (id)",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE webhook_events DROP COLUMN topup_id")
    op.execute(
        "ALTER TABLE gateway_transactions DROP CONSTRAINT gateway_transactions_one_owner,"
        " DROP COLUMN topup_id"
    )
    op.execute("ALTER TABLE gateway_transactions ALTER COLUMN booking_id SET NOT NULL")
    op.execute("ALTER TABLE ledger_entries DROP COLUMN topup_id")
    op.execute("ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check")
    op.execute(
        "ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check"
        " CHECK (kind IN ('credit', 'debit', 'refund'))"
    )
    op.execute("DROP TABLE topup_days, topups")
