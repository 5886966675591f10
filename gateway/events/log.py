"""The event log of a case: signed SETs in order, each with its audit entry; :func:`record_event`
also announces the event to the sender's callback."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.routing.routes import callback_row
from gateway.store.audit import Entry, record, sha256
from gateway.store.models import Event, Submission
from gateway.store.outbox import add_outbox

__all__ = ["add_event", "record_event"]


def add_event(session: AsyncSession, submission: Submission, name: str, token: str) -> None:
    """Add a signed SET to the case's log, with its audit entry (same transaction)."""
    session.add(Event(case_id=submission.case_id, submission_id=submission.id, event=name, token=token))
    detail = {"set_sha256": sha256(token)}
    record(
        session,
        Entry("event.written", submission.id, submission.case_id, submission.destination_id, name, detail),
    )


def record_event(session: AsyncSession, submission: Submission, name: str, token: str) -> None:
    """Add a signed SET to the case's log and, if configured, its callback (same transaction)."""
    add_event(session, submission, name, token)
    row = callback_row(submission, name)
    if row is not None:
        add_outbox(session, row)
