"""Alerts: every condition that needs a person, one open row per (kind, subject).

A repeat of an open alert bumps its ``occurrences`` and ``last_seen_at``;
once resolved (who, when, the note), the next occurrence opens a new row.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE alerts (
            id uuid PRIMARY KEY,
            kind varchar(32) NOT NULL,
            severity varchar(16) NOT NULL CHECK (severity IN ('critical', 'warning')),
            subject text NOT NULL,
            booking_id uuid REFERENCES bookings (id),
            details text NOT NULL,
            occurrences integer NOT NULL DEFAULT 1,
            opened_at timestamptz NOT NULL DEFAULT now(),
            last_seen_at timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz,
            resolved_by text,
            resolution_note text,
            CHECK ((resolved_at IS NULL) = (resolved_by IS NULL))
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX alerts_one_open ON alerts (kind, subject) WHERE resolved_at IS NULL"
    )
    op.execute(
        "CREATE INDEX alerts_open_by_booking ON alerts (booking_id) WHERE resolved_at IS NULL"
    )
    op.execute("CREATE INDEX alerts_by_time ON alerts (opened_at DESC, id DESC)")


def downgrade() -> None:
    op.execute("DROP TABLE alerts")
