"""Recovery of in-flight work for the in-process broker, which keeps nothing across a restart.

The database says where every submission is; at start, each one still waiting for a stage gets a
fresh outbox row, and the claims of the previous process (which held them all) expire at once, so
that their attempts are recorded as interrupted. Stages are idempotent by (stage, submission id),
so a message that also survived elsewhere does no harm.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.routing.routes import stage_row
from gateway.store.lifecycle import SubmissionStatus
from gateway.store.models import Submission, utcnow
from gateway.store.outbox import add_outbox

_NEXT_STAGE: dict[str, Literal["validate", "deliver"]] = {
    SubmissionStatus.SUBMITTED: "validate",
    SubmissionStatus.VALIDATED: "deliver",
}


async def requeue_in_flight(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Write an outbox row for every submission waiting for validation or delivery."""
    async with sessions.begin() as session:
        waiting = (await session.scalars(select(Submission).where(Submission.status.in_(_NEXT_STAGE)))).all()
        add_outbox(session, *(stage_row(_NEXT_STAGE[s.status], s) for s in waiting))
        await session.execute(
            update(Submission).where(Submission.claimed_until.is_not(None)).values(claimed_until=utcnow())
        )
    return len(waiting)
