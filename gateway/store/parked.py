"""Parked submissions as operators handle them: the list (with its filters), and the two ways out.

A submission is parked while its status is ``parked``; its ``parked_messages`` records say why,
its ``delivery_attempts`` which adapter failed with which code. :meth:`ParkedStore.unpark` takes
the step ``parked`` → ``validated`` with the deliver stage's outbox row (message id
``deliver:<id>``, the step's idempotency key as before) and drops the park's records: the message
is back in its queue, and a new park records its own reason. :meth:`ParkedStore.reject` takes
``parked`` → ``rejected``; the records stay as the reason. Both are guarded steps (of two
operators acting on one submission, one wins) with the operator's audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.audit import acting, operator_action
from gateway.store.backlog import aware
from gateway.store.db import create_engine
from gateway.store.lifecycle import SubmissionStatus, transition
from gateway.store.models import Attachment, DeliveryAttempt, Destination, Outbox, ParkedMessage, Submission
from gateway.store.outbox import add_outbox

__all__ = ["Also", "ParkedFilter", "ParkedStore", "ParkedSubmission", "Stored", "parked_submissions"]

S = SubmissionStatus


@dataclass(frozen=True)
class ParkedFilter:
    """Which parked submissions: every field left ``None`` matches all. ``destinations`` is the
    set an operator may see (``None``: every destination)."""

    submission_id: str | None = None
    destination_id: str | None = None
    adapter: str | None = None  #: the adapter of the last attempt
    error: str | None = None  #: a text in the park reason or the vendor's code
    since: dt.datetime | None = None  #: parked at or after
    destinations: Collection[str] | None = None


@dataclass(frozen=True)
class ParkedSubmission:
    """One parked submission: where it was going, why it stopped, and its last attempt."""

    submission_id: str
    case_id: str
    destination_id: str
    service: str
    client_id: str
    parked_at: dt.datetime
    reason: str
    attempts: int  #: the highest attempt number recorded
    adapter: str | None  #: of the last attempt
    code: str | None  #: the vendor's code of the last attempt
    error_class: str | None


def _query(which: ParkedFilter) -> Select[Submission, ParkedMessage]:
    first_park = (
        select(func.min(ParkedMessage.id))
        .where(ParkedMessage.submission_id == Submission.id)
        .correlate(Submission)
        .scalar_subquery()
    )
    query = (
        select(Submission, ParkedMessage)
        .outerjoin(ParkedMessage, ParkedMessage.id == first_park)
        .where(Submission.status == S.PARKED)
        .order_by(Submission.updated_at, Submission.id)
    )
    if which.submission_id is not None:
        query = query.where(Submission.id == which.submission_id)
    if which.destination_id is not None:
        query = query.where(Submission.destination_id == which.destination_id)
    if which.destinations is not None:
        query = query.where(Submission.destination_id.in_(list(which.destinations)))
    if which.since is not None:
        query = query.where(Submission.updated_at >= which.since)
    return query


async def parked_submissions(session: AsyncSession, which: ParkedFilter) -> list[ParkedSubmission]:
    """The parked submissions ``which`` selects, longest parked first."""
    found: list[ParkedSubmission] = []
    for row, park in (await session.execute(_query(which))).all():
        last = await session.scalar(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.submission_id == row.id)
            .order_by(DeliveryAttempt.attempt.desc(), DeliveryAttempt.id.desc())
            .limit(1)
        )
        item = ParkedSubmission(
            row.id,
            row.case_id,
            row.destination_id,
            row.service_identifier,
            row.client_id,
            aware(park.parked_at if park else row.updated_at),
            park.reason if park else "",
            last.attempt if last else 0,
            last.adapter if last else None,
            last.code if last else None,
            last.error_class if last else None,
        )
        if _matches(item, which):
            found.append(item)
    return found


def _matches(item: ParkedSubmission, which: ParkedFilter) -> bool:
    if which.adapter is not None and item.adapter != which.adapter:
        return False
    if which.error is not None:
        needle = which.error.casefold()
        return needle in item.reason.casefold() or needle in (item.code or "").casefold()
    return True


@dataclass(frozen=True)
class Stored:
    """What a re-validation reads of a parked submission: its row, destination and uploads."""

    submission: Submission
    destination: Destination
    attachments: dict[str, Attachment]


#: Adds what a rejection writes besides the step (its signed event) to the step's transaction.
Also = Callable[[AsyncSession, Submission], None]


class ParkedStore:
    """Reads and steps of parked submissions on ``sessions``; every step carries the operator's
    audit entry (who, what, why) in its own transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[ParkedStore]:
        """A store on the database at ``url`` as it is (no migration), closed on exit."""
        engine = create_engine(url)
        try:
            yield cls(async_sessionmaker(engine, expire_on_commit=False))
        finally:
            await engine.dispose()

    async def select(self, which: ParkedFilter) -> list[ParkedSubmission]:
        async with self._sessions() as session:
            return await parked_submissions(session, which)

    async def stored(self, submission_id: str) -> Stored | None:
        """The submission with its destination and uploads; ``None`` if it is unknown."""
        async with self._sessions() as session:
            row = await session.get(Submission, submission_id)
            if row is None:
                return None
            destination = await session.get(Destination, row.destination_id)
            assert destination is not None  # foreign key
            uploads = await session.scalars(select(Attachment).where(Attachment.submission_id == row.id))
            return Stored(row, destination, {a.attachment_id: a for a in uploads})

    async def unpark(self, submission: Submission, row: Outbox, operator: str, why: str) -> bool:
        """``parked`` → ``validated`` with the outbox ``row`` that queues it again, the park's
        records dropped; ``False`` if it is not parked (any more)."""
        async with self._sessions.begin() as session:
            acting(session, f"operator:{operator}")
            if not await transition(session, submission.id, S.PARKED, S.VALIDATED):
                return False
            operator_action(session, operator, "replay", submission.id, "validated", why=why)
            add_outbox(session, row)
            await session.execute(delete(ParkedMessage).where(ParkedMessage.submission_id == submission.id))
        return True

    async def reject(self, submission: Submission, operator: str, why: str, also: Also) -> bool:
        """``parked`` → ``rejected`` with ``also`` (the signed event) in the same transaction;
        ``False`` if it is not parked (any more). The park's records stay as the reason."""
        async with self._sessions.begin() as session:
            acting(session, f"operator:{operator}")
            if not await transition(session, submission.id, S.PARKED, S.REJECTED):
                return False
            operator_action(session, operator, "reject", submission.id, "rejected", why=why)
            also(session, submission)
        return True
