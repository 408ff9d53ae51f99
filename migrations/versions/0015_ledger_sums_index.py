"""The ledger's per-customer index carries what reconciliation sums: index-only reads.

``ledger_customer`` (customer_id, id DESC) stays the order the ledger is
listed in; it now also includes currency, amount, kind and created_at, so the
ledger job sums a wallet's rows from the index alone instead of one heap page
per row (a wallet's rows lie all over the table, written as time goes). One
index replaced by one, so a ledger insert still maintains as many. Built
concurrently: ledger writes go on while it builds.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _replace(columns: str) -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ledger_customer_next")
        op.execute(f"CREATE INDEX CONCURRENTLY ledger_customer_next ON ledger_entries {columns}")
        op.execute("DROP INDEX CONCURRENTLY ledger_customer")
        op.execute("ALTER INDEX ledger_customer_next RENAME TO ledger_customer")


def upgrade() -> None:
    _replace("(customer_id, id DESC) INCLUDE (currency, amount, kind, created_at)")


def downgrade() -> None:
    _replace("(customer_id, id DESC)")
