"""Audit log: who did what to which booking, when and why (operator cancellations, ...).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            actor text NOT NULL,
            action varchar(64) NOT NULL,
            booking_id uuid REFERENCES bookings(id),
            reason text,
            key text NOT NULL UNIQUE,
            at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX audit_log_booking ON audit_log (booking_id, id)")


def downgrade() -> None:
    op.execute("DROP TABLE audit_log")
