"""Truthful statuses: COMPLETED bookings, CANCELLED meetings.

A booking whose booked time has passed is ``COMPLETED`` (not active: its seat
is given back and the overlap constraint no longer sees it). A booking that
ends any other way has no meeting any more: ``CANCELLED``.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_status_check")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_status_check CHECK (status IN"
        " ('HELD', 'AWAITING_PAYMENT', 'CONFIRMED', 'COMPLETED', 'FAILED', 'EXPIRED',"
        " 'CANCELLED'))"
    )
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_meeting_status_check")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_meeting_status_check"
        " CHECK (meeting_status IN ('PENDING', 'READY', 'FAILED', 'CANCELLED'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_meeting_status_check")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_meeting_status_check"
        " CHECK (meeting_status IN ('PENDING', 'READY', 'FAILED'))"
    )
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_status_check")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_status_check CHECK (status IN"
        " ('HELD', 'AWAITING_PAYMENT', 'CONFIRMED', 'FAILED', 'EXPIRED', 'CANCELLED'))"
    )
