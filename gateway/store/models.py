"""Tables. The schema is created by the Alembic migrations in ``migrations/``, never by ``create_all``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, dt.datetime: DateTime(timezone=True)}


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))


class Destination(Base):
    __tablename__ = "destinations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    encryption_kid: Mapped[str] = mapped_column(String(128))
    metadata_versions: Mapped[list[Any]]
    reply_channels: Mapped[dict[str, Any]]
    services: Mapped[list[Any]]
    paused_at: Mapped[dt.datetime | None]  #: deliveries wait while set (``gateway.store.pauses``)


class DestinationKey(Base):
    __tablename__ = "destination_keys"
    destination_id: Mapped[str] = mapped_column(ForeignKey("destinations.id"), primary_key=True)
    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]]
    created: Mapped[str] = mapped_column(String(40))
    #: when another encryption key became the destination's ``encryption_kid`` (``None``: never
    #: published as current, or current now)
    retired_at: Mapped[dt.datetime | None]


class Client(Base):
    __tablename__ = "clients"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    destinations: Mapped[list[Any]]
    regions: Mapped[list[Any]]


class Submission(Base):
    __tablename__ = "submissions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), unique=True)
    destination_id: Mapped[str] = mapped_column(ForeignKey("destinations.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    service_identifier: Mapped[str] = mapped_column(String(255))
    service_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    announced_attachments: Mapped[list[Any]]
    metadata_blob: Mapped[str | None] = mapped_column(String(64))
    data_blob: Mapped[str | None] = mapped_column(String(64))
    authentication_tags: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    claimed_until: Mapped[dt.datetime | None]  #: the deliver stage's lease while an adapter runs
    claim_attempt: Mapped[int | None] = mapped_column(Integer)  #: the attempt holding the lease


class Attachment(Base):
    __tablename__ = "attachments"
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    attachment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    blob: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    authentication_tag: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ContentKey(Base):
    """A part's content key as the validate stage re-wrapped it under a local wrap key
    (:mod:`gateway.crypto.keywrap`): only the wrapped bytes and the wrap key's kid, never the key;
    read and written through :mod:`gateway.store.content_keys`."""

    __tablename__ = "content_keys"
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    part: Mapped[str] = mapped_column(String(64), primary_key=True)  #: metadata, data, attachment:<id>
    wrap_kid: Mapped[str] = mapped_column(String(64), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary(128))


class Event(Base):
    """One signed Security Event Token of a case's event log, in order of ``id``."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    submission_id: Mapped[str] = mapped_column(String(36), index=True)
    event: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Outbox(Base):
    """A message for the broker, written in the same transaction as the state change it announces."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str] = mapped_column(String(128))
    envelope: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    claimed_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
        ),
    )


class DeliveryAttempt(Base):
    """One call of an adapter: ``delivered``, ``transient`` (retried), ``permanent`` (parked) or
    ``interrupted`` (the worker stopped or died before the call's outcome was recorded); written
    and read through :mod:`gateway.store.attempts`."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    adapter: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    error_class: Mapped[str | None] = mapped_column(String(128))
    code: Mapped[str | None] = mapped_column(String(255))  #: the vendor's reason code
    detail: Mapped[str | None] = mapped_column(Text)  #: the vendor's note on success
    reference: Mapped[str | None] = mapped_column(String(255))
    latency_ms: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ParkedMessage(Base):
    """A message parked: from which work queue, for which submission, and why."""

    __tablename__ = "parked_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str] = mapped_column(String(128))
    submission_id: Mapped[str | None] = mapped_column(String(36), index=True)
    reason: Mapped[str] = mapped_column(Text)
    parked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One entry of the hash-chained audit log; written and verified through
    :mod:`gateway.store.audit`, never updated or deleted."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(160))  #: ``gateway``, a client id, ``operator:<name>``
    action: Mapped[str] = mapped_column(String(64))
    submission_id: Mapped[str | None] = mapped_column(String(36), index=True)
    case_id: Mapped[str | None] = mapped_column(String(36))
    destination_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]  #: ids, ciphertext hashes, authentication tags; never plaintext
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
