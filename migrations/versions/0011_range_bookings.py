"""Range bookings: a resource booked by any free range, not only by pre-made slots.

* ``resources.booking_mode`` is ``slots`` or ``range``; a range resource
  carries its rules (rate, durations, buffer, notice, horizon, weekly hours and
  exceptions) in ``range_rules``, validated by the API.
* A range booking has no slot. Each booking keeps ``blocked_until``: its end
  plus the resource's buffer. The overlap constraint now compares
  ``[starts_at, blocked_until)``, so two bookings of a capacity-1 resource are
  at least a buffer apart: decided by the exclusion constraint, never a read.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ACTIVE = "('HELD', 'AWAITING_PAYMENT', 'CONFIRMED')"

STATEMENTS = [
    """
    ALTER TABLE resources
        ADD COLUMN booking_mode varchar(8) NOT NULL DEFAULT 'slots'
            CHECK (booking_mode IN ('slots', 'range')),
        ADD COLUMN range_rules jsonb,
        ADD CONSTRAINT resources_range_rules_with_range_mode
            CHECK ((booking_mode = 'range') = (range_rules IS NOT NULL))
    """,
    "ALTER TABLE bookings ALTER COLUMN slot_id DROP NOT NULL",
    "ALTER TABLE bookings ADD COLUMN blocked_until timestamptz",
    "UPDATE bookings SET blocked_until = ends_at",
    "ALTER TABLE bookings ALTER COLUMN blocked_until SET NOT NULL",
    "ALTER TABLE bookings ADD CONSTRAINT bookings_blocked_after_end"
    " CHECK (blocked_until >= ends_at)",
    """
    ALTER TABLE bookings ADD COLUMN blocked tstzrange
        GENERATED ALWAYS AS (tstzrange(starts_at, blocked_until, '[)')) STORED
    """,
    "ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap_on_exclusive_resource",
    f"""
    ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap_on_exclusive_resource
        EXCLUDE USING gist (resource_span WITH &&, blocked WITH &&)
        WHERE (exclusive AND status IN {ACTIVE})
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap_on_exclusive_resource")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap_on_exclusive_resource"
        " EXCLUDE USING gist (resource_span WITH &&, during WITH &&)"
        f" WHERE (exclusive AND status IN {ACTIVE})"
    )
    op.execute("ALTER TABLE bookings DROP COLUMN blocked, DROP COLUMN blocked_until")
    op.execute("ALTER TABLE bookings ALTER COLUMN slot_id SET NOT NULL")
    op.execute(
        "ALTER TABLE resources DROP CONSTRAINT resources_range_rules_with_range_mode,"
        " DROP COLUMN range_rules, DROP COLUMN booking_mode"
    )
