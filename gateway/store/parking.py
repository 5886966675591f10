"""The record of parked messages: which work queue, which submission, why.

One record per message and queue: a park that is recorded again (its publish to the parked
queue failed and the message came back) keeps the first record. A new record has its audit entry
(queue, message id and the SHA-256 of the reason).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.audit import Entry, record, sha256
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
        detail = {"queue": queue, "message_id": message_id, "reason_sha256": sha256(reason[:4000])}
        record(session, Entry("message.parked", submission_id, outcome="parked", detail=detail))
