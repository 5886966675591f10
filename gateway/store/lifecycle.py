"""A submission's lifecycle: its states, the allowed steps between them, and the one guarded update
every stage uses to take a step.

::

    created ──submit──▶ submitted ──validate──▶ validated ──deliver──▶ delivered
                            │                      │  ▲
                            └──▶ rejected ◀────────┤  └── parked (replay)
                                                   └──▶ parked

A step is an ``UPDATE … WHERE id = :id AND status = :from``: of two concurrent workers exactly
one takes it, the other learns that it lost (``False``) and leaves the record alone. Every step,
and the creation, adds its entry to the audit log in the same transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.audit import Entry, record
from gateway.store.models import Submission, utcnow

__all__ = ["STEPS", "SubmissionStatus", "add_submission", "still", "transition"]


class SubmissionStatus(enum.StrEnum):
    """Where a submission is; stored as its value."""

    CREATED = "created"  #: announced, attachments being uploaded
    SUBMITTED = "submitted"  #: complete and stored, waiting for the validate stage
    VALIDATED = "validated"  #: passed every check, waiting for the deliver stage
    REJECTED = "rejected"  #: failed a check; the sender has a reject-submission event
    DELIVERED = "delivered"  #: the adapter accepted it; the sender has an accept-submission event
    PARKED = "parked"  #: delivery failed for good; an operator replays or rejects it


S = SubmissionStatus
#: The allowed steps: from → the states it may go to.
STEPS: dict[SubmissionStatus, frozenset[SubmissionStatus]] = {
    S.CREATED: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.VALIDATED, S.REJECTED}),
    S.VALIDATED: frozenset({S.DELIVERED, S.PARKED, S.REJECTED}),  # rejected: by a FIT-Connect subscriber
    S.PARKED: frozenset({S.VALIDATED, S.REJECTED}),
    S.REJECTED: frozenset(),
    S.DELIVERED: frozenset(),
}


async def _guarded(
    session: AsyncSession,
    submission_id: str,
    status: SubmissionStatus,
    values: dict[str, Any],
    conditions: tuple[ColumnElement[bool], ...] = (),
) -> tuple[str, str] | None:
    """The updated submission's case and destination ids, ``None`` if it was not updated."""
    result = await session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.status == status, *conditions)
        .values(**values)
        .returning(Submission.case_id, Submission.destination_id)
        .execution_options(synchronize_session=False)
    )
    row = result.first()
    return None if row is None else (row.case_id, row.destination_id)


async def transition(
    session: AsyncSession,
    submission_id: str,
    source: SubmissionStatus,
    target: SubmissionStatus,
    *conditions: ColumnElement[bool],
    evidence: Mapping[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move the submission from ``source`` to ``target`` (with ``values``, if it meets
    ``conditions``) in ``session``'s transaction, its audit entry carrying ``evidence``;
    ``False`` if it is not in ``source`` any more. Raises ``ValueError`` for a step the
    lifecycle does not allow."""
    if target not in STEPS[source]:
        raise ValueError(f"a submission cannot go from {source} to {target}")
    changed = {**values, "status": target, "updated_at": utcnow()}
    moved = await _guarded(session, submission_id, source, changed, conditions)
    if moved is None:
        return False
    detail = {"from": source.value, **(evidence or {})}
    case_id, destination_id = moved
    record(
        session,
        Entry(f"submission.{target.value}", submission_id, case_id, destination_id, target.value, detail),
    )
    return True


def add_submission(session: AsyncSession, submission: Submission) -> None:
    """Add a new ``created`` submission to ``session``'s transaction, with its audit entry."""
    session.add(submission)
    entry = Entry(
        "submission.created",
        submission.id,
        submission.case_id,
        submission.destination_id,
        outcome=SubmissionStatus.CREATED.value,
        detail={"service": submission.service_identifier},
    )
    record(session, entry)


async def still(
    session: AsyncSession,
    submission_id: str,
    status: SubmissionStatus,
    *conditions: ColumnElement[bool],
    **values: Any,
) -> bool:
    """Update ``values`` only while the submission is in ``status`` (and meets ``conditions``):
    a guard without a step. ``False`` if it is not."""
    values = {**values, "updated_at": utcnow()}
    return await _guarded(session, submission_id, status, values, conditions) is not None
