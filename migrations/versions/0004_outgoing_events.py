"""Outgoing booking events: a transactional outbox of signed webhooks for the host application.

Rows are written by ``record_event`` in the same transaction as the state change
they announce (``source_event_id`` ties each to its timeline row, at most once),
and delivered by the worker's event dispatcher with retries and backoff.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE outgoing_events (
            id uuid PRIMARY KEY,
            booking_id uuid NOT NULL REFERENCES bookings(id),
            source_event_id bigint NOT NULL UNIQUE REFERENCES booking_events(id),
            type varchar(64) NOT NULL,
            payload jsonb NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'PENDING'
                CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
            attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            last_error text,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            created_at timestamptz NOT NULL DEFAULT now(),
            delivered_at timestamptz
        )
        """
    )
    # The dispatcher's poll: due rows only, so delivered history costs nothing to skip.
    op.execute(
        "CREATE INDEX outgoing_events_due ON outgoing_events (next_attempt_at) "
        "WHERE status = 'PENDING'"
    )
    op.execute("CREATE INDEX outgoing_events_booking ON outgoing_events (booking_id, created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE outgoing_events")
