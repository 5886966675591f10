"""The record of delivery attempts: every call of an adapter, what it came to, and why.

One row per call: the attempt number, the configured adapter name, the outcome, the latency, and
what the call left behind: on success the vendor's reference and note (``Receipt``), on failure
the error, its class and the vendor's code (``PermanentDeliveryError.code``). Operators read a
submission's attempts with :func:`attempts_of`. Each attempt has its audit entry (its number,
adapter, outcome, error class, the vendor's code and reference; no free text).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.audit import Entry, record
from gateway.store.models import DeliveryAttempt

__all__ = ["Attempt", "AttemptOutcome", "attempts_of", "record_attempt"]


class AttemptOutcome(enum.StrEnum):
    """What one adapter call came to; stored as its value."""

    DELIVERED = "delivered"  #: the vendor has it
    TRANSIENT = "transient"  #: failed, retried
    PERMANENT = "permanent"  #: refused, parked
    INTERRUPTED = "interrupted"  #: the worker stopped or died before the outcome was recorded


@dataclass(frozen=True)
class Attempt:
    """One adapter call; ``at`` is when it was recorded (``None`` before)."""

    submission_id: str
    attempt: int
    adapter: str  #: the adapter's name in the configuration
    outcome: AttemptOutcome
    latency_ms: int
    error: str | None = None  #: what went wrong, for operators
    error_class: str | None = None  #: the exception's class, e.g. ``PermanentDeliveryError``
    code: str | None = None  #: the vendor's reason code
    detail: str | None = None  #: the vendor's note on success (``Receipt.detail``)
    reference: str | None = None  #: the vendor's reference on success (``Receipt.reference``)
    at: dt.datetime | None = None


def record_attempt(session: AsyncSession, attempt: Attempt) -> None:
    """Add ``attempt`` to ``session``'s transaction (long texts cut to their columns)."""
    session.add(
        DeliveryAttempt(
            submission_id=attempt.submission_id,
            attempt=attempt.attempt,
            adapter=attempt.adapter[:128],
            outcome=attempt.outcome.value,
            latency_ms=attempt.latency_ms,
            error=_cut(attempt.error, 2000),
            error_class=_cut(attempt.error_class, 128),
            code=_cut(attempt.code, 255),
            detail=_cut(attempt.detail, 2000),
            reference=_cut(attempt.reference, 255),
        )
    )
    detail = {
        "attempt": attempt.attempt,
        "adapter": attempt.adapter,
        "error_class": attempt.error_class,
        "code": attempt.code,
        "reference": attempt.reference,
    }
    record(
        session,
        Entry("delivery.attempt", attempt.submission_id, outcome=attempt.outcome.value, detail=detail),
    )


async def attempts_of(session: AsyncSession, submission_id: str) -> list[Attempt]:
    """The attempts of a submission, in the order they were recorded."""
    rows = await session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.submission_id == submission_id)
        .order_by(DeliveryAttempt.id)
    )
    return [
        Attempt(
            submission_id=row.submission_id,
            attempt=row.attempt,
            adapter=row.adapter,
            outcome=AttemptOutcome(row.outcome),
            latency_ms=row.latency_ms,
            error=row.error,
            error_class=row.error_class,
            code=row.code,
            detail=row.detail,
            reference=row.reference,
            at=row.at,
        )
        for row in rows
    ]


def _cut(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]
