"""The record of parked messages: which work queue, which submission, why."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.models import ParkedMessage

__all__ = ["record_parked"]


def record_parked(
    session: AsyncSession, queue: str, message_id: str, submission_id: str | None, reason: str
) -> None:
    """Add the record of a parked message to ``session``'s transaction."""
    session.add(
        ParkedMessage(queue=queue, message_id=message_id, submission_id=submission_id, reason=reason[:4000])
    )
