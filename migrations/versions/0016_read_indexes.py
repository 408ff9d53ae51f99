"""Indexes for reads that stay flat as the data grows (the scale benchmark, ``make bench-scale``).

Each serves a read of the API that otherwise scanned a large table or walked
an index far past the page it returned (``tests/plans`` asserts their plans):

* ``ledger_booking``: a booking's wallet refunds, read by every booking view;
  without it each view scanned the whole ledger.
* ``bookings_resource_created``: an operator's list of one resource's
  bookings, newest first; ``bookings_resource_starts``: the same within a
  window of start times (a resource's week).
* ``bookings_attention_created``: bookings that need attention, newest first,
  in order (it replaces ``bookings_needs_attention``, which only found them).
* ``alerts_kind_opened``, ``alerts_open_opened``, ``alerts_open_kind_opened``:
  the alert lists by kind, open ones, open ones of a kind, newest first;
  resolved alerts pile up for ever while open ones stay few.

Built ``CONCURRENTLY``, outside the migration's transaction: on a live
database a plain build would block every write to the ledger and the
bookings for as long as it runs. A build that failed leaves an invalid
index; ``IF NOT EXISTS`` would keep it, so each is dropped first.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

INDEXES = {
    "ledger_booking": "ledger_entries (booking_id) WHERE booking_id IS NOT NULL",
    "bookings_resource_created": "bookings (resource_id, created_at DESC, id DESC)",
    "bookings_resource_starts": "bookings (resource_id, starts_at)",
    "bookings_attention_created": "bookings (created_at DESC, id DESC) WHERE needs_attention",
    "alerts_kind_opened": "alerts (kind, opened_at DESC, id DESC)",
    "alerts_open_opened": "alerts (opened_at DESC, id DESC) WHERE resolved_at IS NULL",
    "alerts_open_kind_opened": "alerts (kind, opened_at DESC, id DESC) WHERE resolved_at IS NULL",
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, definition in INDEXES.items():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {definition}")
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS bookings_needs_attention")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS bookings_needs_attention"
            " ON bookings (id) WHERE needs_attention"
        )
        for name in reversed(INDEXES):
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
