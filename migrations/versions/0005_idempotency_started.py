"""Idempotency records say when work began, so a create can be refused early only before it.

The API answers 409 without starting a workflow when the slot is already full;
``started_at`` makes that answer and a concurrent duplicate's workflow start
mutually exclusive (see ``api.services.idempotency.IdempotencyKey.refuse``).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE idempotency_records ADD COLUMN started_at timestamptz")
    # Keys still waiting for an answer may have a workflow running: count them as started.
    op.execute("UPDATE idempotency_records SET started_at = created_at WHERE response_body IS NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE idempotency_records DROP COLUMN started_at")
