"""Submissions handed to a FIT-Connect subscriber: re-encrypted parts waiting for pickup.

::

    waiting ──GET submission──▶ picked_up ──accept SET──▶ accepted
                                    └──────reject SET──▶ rejected

The sender's submission stays ``validated`` until the subscriber answers; the answer moves it to
``delivered`` (accept) or ``rejected`` in the same transaction as the pickup's step.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, String, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, utcnow

__all__ = ["Pickup", "PickupStatus", "open_pickup_blobs", "open_pickups", "step"]


class PickupStatus(enum.StrEnum):
    WAITING = "waiting"  #: re-encrypted, not fetched yet
    PICKED_UP = "picked_up"  #: fetched; notify-submission written
    ACCEPTED = "accepted"  #: the subscriber accepted; the sender has accept-submission
    REJECTED = "rejected"  #: the subscriber rejected; the sender has reject-submission


OPEN = (PickupStatus.WAITING, PickupStatus.PICKED_UP)


class Pickup(Base):
    """One submission for a subscriber: blobs of the re-encrypted parts and their tags."""

    __tablename__ = "subscriber_pickups"
    submission_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    destination_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[str] = mapped_column(String(36), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    metadata_blob: Mapped[str] = mapped_column(String(64))
    data_blob: Mapped[str | None] = mapped_column(String(64))
    #: attachment id → blob, in the order the sender announced them
    attachment_blobs: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ``{metadata, data, attachments: {id: tag}}`` of the re-encrypted parts
    authentication_tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    answer_token: Mapped[str | None] = mapped_column(Text)  #: the subscriber's SET, as posted
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    picked_up_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]


async def open_pickups(
    session: AsyncSession, destinations: list[str], offset: int, limit: int
) -> tuple[list[Pickup], int]:
    """A page of the open pickups of ``destinations`` (oldest first) and how many there are."""
    where = (Pickup.destination_id.in_(destinations), Pickup.status.in_([s.value for s in OPEN]))
    total = await session.scalar(select(func.count()).select_from(Pickup).where(*where)) or 0
    query = select(Pickup).where(*where).order_by(Pickup.created_at, Pickup.submission_id)
    rows = list(await session.scalars(query.offset(offset).limit(limit)))
    return rows, total


async def open_pickup_blobs(session: AsyncSession) -> set[str]:
    """The blobs of every pickup its subscriber has not answered: they may still be fetched."""
    rows = await session.execute(
        select(Pickup.metadata_blob, Pickup.data_blob, Pickup.attachment_blobs).where(
            Pickup.status.in_([s.value for s in OPEN])
        )
    )
    names: set[str] = set()
    for metadata, data, attachments in rows:
        names.update(name for name in (metadata, data, *attachments.values()) if name)
    return names


async def step(
    session: AsyncSession,
    submission_id: str,
    before: tuple[PickupStatus, ...],
    after: PickupStatus,
    **values: Any,
) -> bool:
    """Move a pickup from one of ``before`` to ``after``; ``False`` if another request was first."""
    result = await session.execute(
        update(Pickup)
        .where(Pickup.submission_id == submission_id, Pickup.status.in_([s.value for s in before]))
        .values(status=after.value, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
