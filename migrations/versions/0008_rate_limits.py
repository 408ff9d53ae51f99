"""Rate-limit counters, shared by every API process.

One row per (limit, caller, window): a fixed-window counter that restarts when
its window has passed. UNLOGGED: a counter lost in a crash only forgives a
minute of traffic, and skipping the WAL keeps the per-request write cheap.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE UNLOGGED TABLE rate_limit_counters (
            key text PRIMARY KEY,
            count bigint NOT NULL,
            expires_at timestamptz NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE rate_limit_counters")
