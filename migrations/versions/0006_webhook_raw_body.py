"""Webhook events keep their raw body: a verified event the engine cannot map is not lost.

Such an event is stored with status ``UNPARSEABLE`` and its exact bytes, and
answered 2xx, so the gateway stops retrying and an operator can read it.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE webhook_events ADD COLUMN raw_body bytea")
    op.execute("ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_status_check")
    op.execute(
        "ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_status_check CHECK (status IN"
        " ('RECEIVED', 'SIGNALLED', 'UNMATCHED', 'UNPARSEABLE', 'WORKFLOW_CLOSED'))"
    )


def downgrade() -> None:
    op.execute("DELETE FROM webhook_events WHERE status = 'UNPARSEABLE'")
    op.execute("ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_status_check")
    op.execute(
        "ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_status_check CHECK (status IN"
        " ('RECEIVED', 'SIGNALLED', 'UNMATCHED', 'WORKFLOW_CLOSED'))"
    )
    op.execute("ALTER TABLE webhook_events DROP COLUMN raw_body")
