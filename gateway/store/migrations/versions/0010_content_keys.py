"""Content keys re-wrapped by the validate stage under a local wrap key (``content_keys``).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "content_keys",
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), primary_key=True),
        sa.Column("part", sa.String(64), primary_key=True),
        sa.Column("wrap_kid", sa.String(64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(128), nullable=False),
    )
    op.create_index("ix_content_keys_wrap_kid", "content_keys", ["wrap_kid"])


def downgrade() -> None:
    op.drop_index("ix_content_keys_wrap_kid", table_name="content_keys")
    op.drop_table("content_keys")
