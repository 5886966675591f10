"""Recovery of in-flight work for the in-process broker, which keeps nothing across a restart.

The database says where every submission is; at start, each one still waiting for a stage gets a
fresh outbox row. Stages are idempotent by (stage, submission id), so a message that also
survived elsewhere does no harm.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.models import Outbox, Submission

_NEXT_STAGE = {"submitted": "validate", "validated": "deliver"}


def stage_message(stage: str, submission: Submission) -> Outbox:
    """The outbox row that hands ``submission`` to ``stage`` (``validate`` or ``deliver``)."""
    if stage == "validate":
        return Outbox(
            queue="process",
            message_id=f"validate:{submission.id}",
            envelope={"stage": "validate", "submissionId": submission.id},
        )
    return Outbox(
        queue=f"deliver.{submission.destination_id}",
        message_id=f"deliver:{submission.id}",
        envelope={
            "stage": "deliver",
            "submissionId": submission.id,
            "destinationId": submission.destination_id,
        },
    )


async def requeue_in_flight(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Write an outbox row for every submission waiting for validation or delivery."""
    async with sessions.begin() as session:
        waiting = (await session.scalars(select(Submission).where(Submission.status.in_(_NEXT_STAGE)))).all()
        session.add_all(stage_message(_NEXT_STAGE[s.status], s) for s in waiting)
    return len(waiting)
