"""Reconciliation checkpoints: where each incremental job may start its next run.

``horizon`` is a transaction id (``xid8``): every change made by a transaction
with an id below it had been judged when it was written. The ledger job reads
it at the start of a run, judges only the wallets written since (by
transactions with ids at or above it), and writes the horizon it took at its
own start once every page is done. A missing row means no run has finished:
the next one is a full pass.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE reconcile_checkpoints (
            job varchar(32) PRIMARY KEY,
            horizon xid8 NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE reconcile_checkpoints")
