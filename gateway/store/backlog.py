"""What waits where: the backlog of each destination, the outbox lag, the keys in-flight work
may need. Derived from the database at the time of asking, so every process sees the same numbers.

A destination's submissions in flight are in one state each:

* ``validating``: submitted, waiting for (or in) the validate stage;
* ``queued``: validated, no delivery attempt yet;
* ``retrying``: validated, an earlier attempt failed, waiting for the next (its message sits in a
  shared ``<ns>.retry.<n>`` queue, which the destination's own queue does not show);
* ``delivering``: an attempt holds the claim (:mod:`gateway.store.claims`);
* ``parked``: delivery failed for good; an operator replays or rejects it.

``oldest_waiting`` is the submit time of the oldest ``validating``, ``queued``, ``retrying`` or
``delivering`` submission.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import overload

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.attempts import AttemptOutcome
from gateway.store.lifecycle import SubmissionStatus
from gateway.store.models import DeliveryAttempt, Destination, DestinationKey, Outbox, Submission

__all__ = [
    "STATES",
    "DestinationBacklog",
    "KeyNeed",
    "OutboxLag",
    "aware",
    "destination_backlogs",
    "in_flight_before",
    "key_needs",
    "outbox_lag",
]

S = SubmissionStatus
#: The backlog states, in the order a submission passes them.
STATES = ("validating", "queued", "retrying", "delivering", "parked")
#: Statuses whose submissions still need their parts (and so the destination's keys).
IN_FLIGHT = (S.CREATED, S.SUBMITTED, S.VALIDATED, S.PARKED)


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` with its zone, UTC (SQLite returns naive datetimes)."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class DestinationBacklog:
    """One destination's work in flight and its recent delivery record."""

    destination_id: str
    name: str
    status: str  #: active, inactive, decommissioned; paused while an operator paused its deliveries
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    oldest_waiting: dt.datetime | None = None
    last_success: dt.datetime | None = None
    failures_last_hour: int = 0  #: attempts that did not deliver, in the hour before asking


@dataclass(frozen=True)
class OutboxLag:
    """Outbox rows not yet confirmed by the broker, per route, with the oldest one's time."""

    route: str
    pending: int
    oldest: dt.datetime | None


@dataclass(frozen=True)
class KeyNeed:
    """An encryption key of a destination and how many submissions in flight may need it: for
    the current key all in flight; for a retired one those created before it was retired, when
    senders may still have encrypted to it (retired: when another key became current, else,
    for keys retired before that was recorded, when the next newer key was created)."""

    destination_id: str
    kid: str
    current: bool  #: the key the destination publishes now
    created: str
    in_flight: int
    retired_at: dt.datetime | None = None


def _state(status: str, claimed: bool, tried: bool) -> str | None:
    if status == S.SUBMITTED:
        return "validating"
    if status == S.PARKED:
        return "parked"
    if status == S.VALIDATED:
        return "delivering" if claimed else "retrying" if tried else "queued"
    return None


async def destination_backlogs(session: AsyncSession, now: dt.datetime) -> list[DestinationBacklog]:
    """Every destination's backlog by state, oldest waiting, last success and recent failures."""
    backlogs = {
        row.id: DestinationBacklog(row.id, row.name, "paused" if row.paused_at else row.status)
        for row in await session.scalars(select(Destination).order_by(Destination.name, Destination.id))
    }
    tried = select(DeliveryAttempt.submission_id).distinct().subquery()
    flight = (
        select(
            Submission.destination_id.label("destination"),
            Submission.status.label("status"),
            case((Submission.claimed_until > now, 1), else_=0).label("claimed"),
            case((tried.c.submission_id.is_not(None), 1), else_=0).label("tried"),
            Submission.submitted_at.label("since"),
        )
        .outerjoin(tried, tried.c.submission_id == Submission.id)
        .where(Submission.status.in_((S.SUBMITTED, S.VALIDATED, S.PARKED)))
        .subquery()
    )
    grouped = select(
        flight.c.destination,
        flight.c.status,
        flight.c.claimed,
        flight.c.tried,
        func.count(),
        func.min(flight.c.since),
    ).group_by(flight.c.destination, flight.c.status, flight.c.claimed, flight.c.tried)
    for destination, status, claimed, was_tried, count, since in await session.execute(grouped):
        backlog, state = backlogs.get(destination), _state(status, bool(claimed), bool(was_tried))
        if backlog is None or state is None:
            continue
        backlog.counts[state] += count
        since = aware(since)
        if state != "parked" and since is not None:
            backlog.oldest_waiting = min(since, backlog.oldest_waiting or since)
    attempts = (
        select(
            Submission.destination_id,
            func.max(case((DeliveryAttempt.outcome == AttemptOutcome.DELIVERED, DeliveryAttempt.at))),
            func.sum(
                case(
                    (
                        (DeliveryAttempt.outcome != AttemptOutcome.DELIVERED)
                        & (DeliveryAttempt.at >= now - dt.timedelta(hours=1)),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .join(Submission, Submission.id == DeliveryAttempt.submission_id)
        .group_by(Submission.destination_id)
    )
    for destination, last_success, failures in await session.execute(attempts):
        if destination in backlogs:
            backlogs[destination].last_success = aware(last_success)
            backlogs[destination].failures_last_hour = int(failures or 0)
    return list(backlogs.values())


async def outbox_lag(session: AsyncSession) -> list[OutboxLag]:
    """Unsent outbox rows per route (``validate``, ``deliver.<destination>``, ``callbacks``)."""
    rows = await session.execute(
        select(Outbox.queue, func.count(), func.min(Outbox.created_at))
        .where(Outbox.sent_at.is_(None))
        .group_by(Outbox.queue)
        .order_by(Outbox.queue)
    )
    return [OutboxLag(route, count, aware(oldest)) for route, count, oldest in rows]


async def key_needs(session: AsyncSession, destination_id: str | None = None) -> list[KeyNeed]:
    """Each destination's encryption keys (or one destination's) with the submissions in flight
    that may need them."""
    current = {d: kid for d, kid in await session.execute(select(Destination.id, Destination.encryption_kid))}
    query = (
        select(
            DestinationKey.destination_id,
            DestinationKey.kid,
            DestinationKey.created,
            DestinationKey.retired_at,
        )
        .where(DestinationKey.purpose == "encryption")
        .order_by(DestinationKey.destination_id, DestinationKey.created)
    )
    if destination_id is not None:
        query = query.where(DestinationKey.destination_id == destination_id)
    by_destination: dict[str, list[tuple[str, str, dt.datetime | None]]] = {}
    for destination, kid, created, retired_at in await session.execute(query):
        by_destination.setdefault(destination, []).append((kid, created, aware(retired_at)))
    needs: list[KeyNeed] = []
    for destination, keys in by_destination.items():
        for index, (kid, created, retired_at) in enumerate(keys):
            is_current = current.get(destination) == kid
            if not is_current and retired_at is None and index + 1 < len(keys):
                retired_at = dt.datetime.fromisoformat(keys[index + 1][1])
            if is_current:
                retired_at = None
            in_flight = await in_flight_before(session, destination, retired_at)
            needs.append(KeyNeed(destination, kid, is_current, created, in_flight, retired_at))
    return needs


async def in_flight_before(session: AsyncSession, destination_id: str, retired_at: dt.datetime | None) -> int:
    """The destination's submissions in flight created before ``retired_at`` (``None``: all)."""
    query = select(func.count()).where(
        Submission.destination_id == destination_id, Submission.status.in_(IN_FLIGHT)
    )
    if retired_at is not None:
        query = query.where(Submission.created_at < retired_at)
    return int(await session.scalar(query) or 0)
