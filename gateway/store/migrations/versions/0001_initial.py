"""Initial schema: tenants, destinations, keys, clients, submissions, attachments, events, outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
    )
    op.create_table(
        "destinations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(63), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("encryption_kid", sa.String(128), nullable=False),
        sa.Column("metadata_versions", sa.JSON, nullable=False),
        sa.Column("reply_channels", sa.JSON, nullable=False),
        sa.Column("services", sa.JSON, nullable=False),
    )
    op.create_table(
        "destination_keys",
        sa.Column("destination_id", sa.String(36), sa.ForeignKey("destinations.id"), primary_key=True),
        sa.Column("kid", sa.String(128), primary_key=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("destinations", sa.JSON, nullable=False),
        sa.Column("regions", sa.JSON, nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False, unique=True),
        sa.Column("destination_id", sa.String(36), sa.ForeignKey("destinations.id"), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("service_identifier", sa.String(255), nullable=False),
        sa.Column("service_name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("announced_attachments", sa.JSON, nullable=False),
        sa.Column("metadata_blob", sa.String(64)),
        sa.Column("data_blob", sa.String(64)),
        sa.Column("authentication_tags", sa.JSON),
        sa.Column("callback_url", sa.Text),
        sa.Column("callback_secret", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("submitted_at", TS),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_submissions_destination_id", "submissions", ["destination_id"])
    op.create_table(
        "attachments",
        sa.Column("submission_id", sa.String(36), sa.ForeignKey("submissions.id"), primary_key=True),
        sa.Column("attachment_id", sa.String(36), primary_key=True),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("authentication_tag", sa.String(64), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_events_case_id", "events", ["case_id"])
    op.create_index("ix_events_submission_id", "events", ["submission_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("message_id", sa.String(128), nullable=False),
        sa.Column("envelope", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    for table in ("outbox", "events", "attachments", "submissions", "clients", "destination_keys"):
        op.drop_table(table)
    op.drop_table("destinations")
    op.drop_table("tenants")
