"""Delivery attempts: every call of an adapter with its outcome, error and latency.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("adapter", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("reference", sa.String(255)),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_delivery_attempts_submission_id", "delivery_attempts", ["submission_id"])


def downgrade() -> None:
    op.drop_table("delivery_attempts")
