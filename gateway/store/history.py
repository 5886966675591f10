"""What the database knows of one submission's way through the gateway, for its timeline: the
submission, its attachments (id, size, time), its signed events, the outbox rows that carried it
between stages (and its callbacks), its delivery attempts and its parks. No payload, no blob names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.attempts import Attempt, attempts_of
from gateway.store.backlog import aware
from gateway.store.models import Attachment, Event, Outbox, ParkedMessage, Submission

__all__ = ["History", "Hop", "Park", "Received", "SignedEvent", "Upload", "history_of"]


@dataclass(frozen=True)
class Received:
    submission_id: str
    case_id: str
    destination_id: str
    service: str  #: the service identifier
    client_id: str
    status: str
    announced_attachments: int
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class Upload:
    attachment_id: str
    size: int
    at: dt.datetime


@dataclass(frozen=True)
class SignedEvent:
    name: str  #: e.g. ``submit-submission``
    token: str  #: the compact SET (its claims carry a rejection's problems)
    at: dt.datetime


@dataclass(frozen=True)
class Hop:
    """An outbox row: ``route`` (``validate``, ``deliver.<destination>``, ``callbacks``) written
    at ``created``, confirmed by the broker at ``sent`` (``None``: not yet)."""

    route: str
    message_id: str
    created: dt.datetime
    sent: dt.datetime | None
    tries: int  #: how often a relay took the row


@dataclass(frozen=True)
class Park:
    queue: str
    reason: str
    at: dt.datetime


@dataclass(frozen=True)
class History:
    received: Received
    uploads: list[Upload]
    events: list[SignedEvent]
    hops: list[Hop]
    attempts: list[Attempt]
    parks: list[Park]


async def history_of(session: AsyncSession, reference: str) -> History | None:
    """The history of the submission with id ``reference``, or of the case with that id."""
    row = await session.scalar(
        select(Submission).where(or_(Submission.id == reference, Submission.case_id == reference))
    )
    if row is None:
        return None
    sid = row.id
    uploads = await session.scalars(
        select(Attachment).where(Attachment.submission_id == sid).order_by(Attachment.uploaded_at)
    )
    events = await session.scalars(select(Event).where(Event.submission_id == sid).order_by(Event.id))
    hops = await session.scalars(
        select(Outbox)
        .where(
            or_(
                Outbox.message_id.in_((f"validate:{sid}", f"deliver:{sid}")),
                Outbox.message_id.startswith(f"callback:{sid}:", autoescape=True),
            )
        )
        .order_by(Outbox.id)
    )
    parks = await session.scalars(
        select(ParkedMessage).where(ParkedMessage.submission_id == sid).order_by(ParkedMessage.id)
    )
    received = Received(
        sid,
        row.case_id,
        row.destination_id,
        row.service_identifier,
        row.client_id,
        row.status,
        len(row.announced_attachments),
        aware(row.created_at),
        aware(row.submitted_at),
        aware(row.updated_at),
    )
    return History(
        received,
        [Upload(u.attachment_id, u.size, aware(u.uploaded_at)) for u in uploads],
        [SignedEvent(e.event, e.token, aware(e.created_at)) for e in events],
        [Hop(h.queue, h.message_id, aware(h.created_at), aware(h.sent_at), h.attempts) for h in hops],
        [replace(a, at=aware(a.at)) for a in await attempts_of(session, sid)],
        [Park(p.queue, p.reason, aware(p.parked_at)) for p in parks],
    )
