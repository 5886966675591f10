"""The audit log: an append-only, hash-chained record of every state change
(``gateway.store.audit``).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(160), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("submission_id", sa.String(36)),
        sa.Column("case_id", sa.String(36)),
        sa.Column("destination_id", sa.String(36)),
        sa.Column("outcome", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_submission_id", "audit_log", ["submission_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
