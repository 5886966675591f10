"""The event log of a case: signed SETs in order, each announced to the sender's callback."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.routing.routes import callback_row
from gateway.store.models import Event, Submission

__all__ = ["record_event"]


def record_event(session: AsyncSession, submission: Submission, name: str, token: str) -> None:
    """Add a signed SET to the case's log and, if configured, its callback (same transaction)."""
    session.add(Event(case_id=submission.case_id, submission_id=submission.id, event=name, token=token))
    row = callback_row(submission, name)
    if row is not None:
        session.add(row)
