"""Retention: when a submission's ciphertext is deleted, and which blobs rows still reference.

FIT-Connect deletes a submission's content on deadlines (PROTOCOL.md §10.2, "Retention and
notification deadlines"): 7 days after pickup, 1 day for a submission never submitted, and on day
21 for one never picked up. The gateway applies them (:class:`RetentionSettings`) as:

* ``final``: delivered or rejected, ``final_grace_seconds`` after it became so;
* ``incomplete``: still created, ``incomplete_seconds`` after create (its attachments);
* ``unfinished``: submitted, validated or parked, ``unfinished_seconds`` after submit.

Deleting is one transaction per submission (its row locked and still in the state it was
selected in: its blob columns cleared, its attachment rows and wrapped content keys removed),
then the files: so a row never points to a deleted blob, a crash in between leaves files for
the orphan sweep, and a repeated or concurrent purge deletes nothing twice. Events,
authentication tags and the submission row stay; the deletion has its audit entry (rule and
number of blobs) in that transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from sqlalchemy import ColumnElement, CompoundSelect, delete, exists, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.config.settings import RetentionSettings
from gateway.store.audit import Entry, record
from gateway.store.blobs import BlobStore
from gateway.store.content_keys import delete_content_keys
from gateway.store.lifecycle import SubmissionStatus
from gateway.store.models import Attachment, Submission
from gateway.store.pickups import open_pickup_blobs

__all__ = ["Expired", "expired", "purge", "referenced_blobs"]

log = structlog.get_logger()
S = SubmissionStatus
_HAS_ATTACHMENTS = exists().where(Attachment.submission_id == Submission.id)
_HAS_CONTENT = or_(Submission.metadata_blob.is_not(None), Submission.data_blob.is_not(None), _HAS_ATTACHMENTS)


@dataclass(frozen=True)
class Expired:
    """A submission whose content is due for deletion, and which rule says so."""

    submission_id: str
    status: SubmissionStatus
    rule: str


def _rules(settings: RetentionSettings, now: dt.datetime) -> dict[str, ColumnElement[bool]]:
    def before(seconds: int) -> dt.datetime:
        return now - dt.timedelta(seconds=seconds)

    return {
        "final": Submission.status.in_([S.DELIVERED, S.REJECTED])
        & (Submission.updated_at <= before(settings.final_grace_seconds)),
        "incomplete": (Submission.status == S.CREATED)
        & (Submission.created_at <= before(settings.incomplete_seconds))
        & _HAS_ATTACHMENTS,
        "unfinished": Submission.status.in_([S.SUBMITTED, S.VALIDATED, S.PARKED])
        & (Submission.submitted_at <= before(settings.unfinished_seconds)),
    }


async def expired(
    sessions: async_sessionmaker[AsyncSession], settings: RetentionSettings, now: dt.datetime, limit: int
) -> list[Expired]:
    """Up to ``limit`` submissions per rule that still have content and are past their deadline."""
    found: list[Expired] = []
    async with sessions() as session:
        for rule, due in _rules(settings, now).items():
            rows = await session.execute(
                select(Submission.id, Submission.status).where(due, _HAS_CONTENT).limit(limit)
            )
            found += [Expired(sid, S(status), rule) for sid, status in rows]
    return found


async def purge(sessions: async_sessionmaker[AsyncSession], blobs: BlobStore, due: Expired) -> int:
    """Delete the content of one expired submission; the number of blobs deleted (0 if it moved on
    or another sweeper was first)."""
    async with sessions.begin() as session:
        row = await session.get(Submission, due.submission_id, with_for_update=True)
        if row is None or row.status != due.status:
            return 0
        names = [name for name in (row.metadata_blob, row.data_blob) if name]
        names += await session.scalars(
            select(Attachment.blob).where(Attachment.submission_id == due.submission_id)
        )
        if not names:
            return 0
        row.metadata_blob = row.data_blob = None
        await session.execute(delete(Attachment).where(Attachment.submission_id == due.submission_id))
        await delete_content_keys(session, due.submission_id)
        detail = {"rule": due.rule, "blobs": len(names)}
        record(session, Entry("content.deleted", row.id, row.case_id, row.destination_id, "deleted", detail))
    for name in names:
        blobs.delete(name)
    log.info(
        "submission_content_deleted",
        submission_id=due.submission_id,
        status=str(due.status),
        rule=due.rule,
        blobs=len(names),
    )
    return len(names)


async def referenced_blobs(sessions: async_sessionmaker[AsyncSession]) -> frozenset[str]:
    """Every blob name a row references: a submission's parts, and the re-encrypted parts of a
    pickup its subscriber has not answered yet (:mod:`gateway.store.pickups`)."""
    query: CompoundSelect[str] = union(
        select(Submission.metadata_blob).where(Submission.metadata_blob.is_not(None)),
        select(Submission.data_blob).where(Submission.data_blob.is_not(None)),
        select(Attachment.blob),
    )
    async with sessions() as session:
        names = set(await session.scalars(query))
        names.update(await open_pickup_blobs(session))
    return frozenset(names)
