"""Delivery claims and parking records; the validate stage's route is ``validate``.

* ``submissions.claimed_until`` / ``claim_attempt``: the deliver stage's lease on a submission
  while its adapter is called (a duplicate message waits instead of calling the vendor twice);
* ``parked_messages``: every message parked, from which queue and why;
* unsent outbox rows of the old route ``process`` now name ``validate``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("claim_attempt", sa.Integer))
    op.create_table(
        "parked_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("submission_id", sa.String(36)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_parked_messages_submission_id", "parked_messages", ["submission_id"])
    op.execute("UPDATE outbox SET queue = 'validate' WHERE queue = 'process' AND sent_at IS NULL")


def downgrade() -> None:
    op.execute("UPDATE outbox SET queue = 'process' WHERE queue = 'validate' AND sent_at IS NULL")
    op.drop_table("parked_messages")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("claim_attempt")
        batch.drop_column("claimed_until")
