"""Delivery attempts keep what the call left behind: the error's class, the vendor's code and
the vendor's note on success (``Receipt.detail``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.add_column(sa.Column("error_class", sa.String(128)))
        batch.add_column(sa.Column("code", sa.String(255)))
        batch.add_column(sa.Column("detail", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.drop_column("detail")
        batch.drop_column("code")
        batch.drop_column("error_class")
