"""The deliver stage's lease on a submission while its adapter is called.

Before an adapter is called, the stage claims the submission for ``lease`` seconds. A second
message for the same submission (a duplicate publish, or the broker's redelivery after a lost
connection while the first call still runs) finds the claim and waits instead of calling the
vendor a second time. The claim is released in the transaction that records the call's outcome.
A claim that is found expired but never released belonged to an attempt that was interrupted
(the worker died or was stopped mid-call): the next claimant records that attempt as
``interrupted``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.attempts import Attempt, AttemptOutcome, record_attempt
from gateway.store.lifecycle import SubmissionStatus, still
from gateway.store.models import Submission, utcnow

__all__ = ["Busy", "Claimed", "claim", "held", "release", "release_values", "unclaimed"]


@dataclass(frozen=True)
class Claimed:
    """The claim is ours; ``interrupted`` is the attempt of an earlier claim never released."""

    interrupted: int | None = None


@dataclass(frozen=True)
class Busy:
    """Another attempt holds the claim for ``seconds_left`` more seconds."""

    seconds_left: float


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def claim(
    sessions: async_sessionmaker[AsyncSession], submission_id: str, attempt: int, lease: float, adapter: str
) -> Claimed | Busy | None:
    """Claim a ``validated`` submission for ``lease`` seconds; ``None`` if it is not validated
    (any more). An interrupted earlier attempt is recorded in the same transaction."""
    now = utcnow()
    async with sessions.begin() as session:
        row = await session.get(Submission, submission_id, with_for_update=True)
        if row is None or row.status != SubmissionStatus.VALIDATED:
            return None
        if row.claimed_until is not None and _aware(row.claimed_until) > now:
            return Busy((_aware(row.claimed_until) - now).total_seconds())
        interrupted = row.claim_attempt if row.claimed_until is not None else None
        taken = await still(
            session,
            submission_id,
            SubmissionStatus.VALIDATED,
            unclaimed(now),
            claimed_until=now + dt.timedelta(seconds=lease),
            claim_attempt=attempt,
        )
        if not taken:
            return Busy(lease)
        if interrupted is not None:
            record_attempt(
                session,
                Attempt(
                    submission_id,
                    interrupted,
                    adapter,
                    AttemptOutcome.INTERRUPTED,
                    latency_ms=0,
                    error="the worker stopped before the outcome of this call was recorded",
                ),
            )
    return Claimed(interrupted)


def unclaimed(now: dt.datetime | None = None) -> ColumnElement[bool]:
    """The condition "no unexpired claim" for a guarded update."""
    return or_(Submission.claimed_until.is_(None), Submission.claimed_until <= (now or utcnow()))


def held(row: Submission) -> bool:
    """Whether an attempt holds an unexpired claim on ``row``."""
    return row.claimed_until is not None and _aware(row.claimed_until) > utcnow()


async def release(session: AsyncSession, submission_id: str, attempt: int) -> None:
    """Release the claim of ``attempt`` (not one a later attempt took over since)."""
    await session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.claim_attempt == attempt)
        .values(**release_values())
    )


def release_values() -> dict[str, None]:
    """The column values that release a claim, for the update that records the outcome."""
    return {"claimed_until": None, "claim_attempt": None}
