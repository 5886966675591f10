"""The record of parked messages: which work queue, which submission, why.

One record per message and queue: a park that is recorded again (its publish to the parked
queue failed and the message came back) keeps the first record.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.models import ParkedMessage

__all__ = ["record_parked"]


async def record_parked(
    session: AsyncSession, queue: str, message_id: str, submission_id: str | None, reason: str
) -> None:
    """Add the record of a parked message to ``session``'s transaction, unless it has one."""
    known = await session.scalar(
        select(ParkedMessage.id).where(ParkedMessage.queue == queue, ParkedMessage.message_id == message_id)
    )
    if known is None:
        session.add(
            ParkedMessage(
                queue=queue, message_id=message_id, submission_id=submission_id, reason=reason[:4000]
            )
        )
