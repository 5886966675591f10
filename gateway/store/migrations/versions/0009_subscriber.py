"""Submissions waiting for a FIT-Connect subscriber (the ``fit-connect-subscriber`` binding): the
parts re-encrypted to the Fachverfahren's key, their tags, and how far the pickup got.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriber_pickups",
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), primary_key=True),
        sa.Column("destination_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metadata_blob", sa.String(64), nullable=False),
        sa.Column("data_blob", sa.String(64)),
        sa.Column("attachment_blobs", sa.JSON, nullable=False),
        sa.Column("authentication_tags", sa.JSON, nullable=False),
        sa.Column("answer_token", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("picked_up_at", sa.DateTime(timezone=True)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_subscriber_pickups_destination", "subscriber_pickups", ["destination_id", "status"])
    op.create_index("ix_subscriber_pickups_case_id", "subscriber_pickups", ["case_id"], unique=True)


def downgrade() -> None:
    op.drop_table("subscriber_pickups")
