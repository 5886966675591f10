"""A destination's published keys as the database holds them: which encryption key is current
(``destinations.encryption_kid``, what every process publishes), the public JWKs
(``destination_keys``) and when each encryption key was retired.

The database is where every process (api, relay, workers, the CLI) reads the current key, so a
rotation committed here is what the next sender reads, in every process at once. The private keys
live in the key directory (``gateway.crypto.keys``); :mod:`gateway.operations.keys` keeps the
two together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.audit import Entry, acting, record
from gateway.store.backlog import KeyNeed, key_needs
from gateway.store.db import create_engine
from gateway.store.models import Destination, DestinationKey, utcnow

__all__ = ["KeyRecords", "NewKey", "PublishedKey", "retire_others"]


@dataclass(frozen=True)
class NewKey:
    """A key to publish: its kid, purpose (``encryption`` or ``signing``), creation time and JWK."""

    kid: str
    purpose: str
    created: str
    public_jwk: dict[str, Any]


@dataclass(frozen=True)
class PublishedKey:
    """A published key of a destination as operators see it."""

    kid: str
    purpose: str
    created: str
    current: bool  #: encryption: the key senders are told to use; signing: the newest
    retired_at: dt.datetime | None
    in_flight: int | None  #: encryption keys: the submissions in flight that may need it


async def retire_others(session: AsyncSession, destination_id: str, current: str) -> None:
    """Mark the destination's other encryption keys retired now (those not retired yet), and
    ``current`` not retired."""
    await session.execute(
        update(DestinationKey)
        .where(
            DestinationKey.destination_id == destination_id,
            DestinationKey.purpose == "encryption",
            DestinationKey.kid != current,
            DestinationKey.retired_at.is_(None),
        )
        .values(retired_at=utcnow())
    )
    await session.execute(
        update(DestinationKey)
        .where(DestinationKey.destination_id == destination_id, DestinationKey.kid == current)
        .values(retired_at=None)
    )


class KeyRecords:
    """Reads and changes of destinations' published keys on ``sessions``; every change carries
    the operator's audit entry in its own transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[KeyRecords]:
        """On the database at ``url`` as it is (no migration), closed on exit."""
        engine = create_engine(url)
        try:
            yield cls(async_sessionmaker(engine, expire_on_commit=False))
        finally:
            await engine.dispose()

    async def destination(self, destination_id: str) -> Destination | None:
        async with self._sessions() as session:
            return await session.get(Destination, destination_id)

    async def published(self, destination_id: str) -> list[PublishedKey]:
        """The destination's keys, oldest first, with what in-flight work may need them."""
        async with self._sessions() as session:
            needs = {n.kid: n for n in await key_needs(session, destination_id)}
            rows = await session.scalars(
                select(DestinationKey)
                .where(DestinationKey.destination_id == destination_id)
                .order_by(DestinationKey.created)
            )
            keys = list(rows)
        newest_signing = max((k.created for k in keys if k.purpose == "signing"), default=None)
        return [
            _published(k, needs.get(k.kid), newest_signing)
            for k in keys
            if k.purpose == "signing" or k.kid in needs
        ]

    async def needs(self, destination_id: str) -> list[KeyNeed]:
        async with self._sessions() as session:
            return await key_needs(session, destination_id)

    async def rotate(self, destination_id: str, new: NewKey, operator: str, why: str) -> str | None:
        """Publish ``new``; an encryption key becomes the current one and the one it replaces is
        retired. Returns the replaced kid (signing: the newest before), ``None`` if there was none."""
        async with self._sessions.begin() as session:
            row = await session.get(Destination, destination_id, with_for_update=True)
            if row is None:
                raise LookupError(destination_id)
            if new.purpose == "encryption":
                previous: str | None = row.encryption_kid
            else:
                previous = await session.scalar(
                    select(DestinationKey.kid)
                    .where(
                        DestinationKey.destination_id == destination_id, DestinationKey.purpose == "signing"
                    )
                    .order_by(DestinationKey.created.desc())
                    .limit(1)
                )
            session.add(
                DestinationKey(
                    destination_id=destination_id,
                    kid=new.kid,
                    purpose=new.purpose,
                    public_jwk=new.public_jwk,
                    created=new.created,
                )
            )
            if new.purpose == "encryption":
                row.encryption_kid = new.kid
                await session.flush()
                await retire_others(session, destination_id, new.kid)
            acting(session, f"operator:{operator}")
            detail = {"why": why, "use": new.purpose, "kid": new.kid, "previous": previous}
            record(
                session,
                Entry("operator.rotate_key", destination_id=destination_id, outcome=new.kid, detail=detail),
            )
        return previous

    async def prune(
        self, destination_id: str, kid: str, operator: str, why: str, retired_before: dt.datetime
    ) -> bool:
        """Unpublish an encryption key retired before ``retired_before`` that no submission in
        flight may need (checked in the same transaction); ``False`` if it is current, retired
        later, needed or not there."""
        async with self._sessions.begin() as session:
            row = await session.get(Destination, destination_id, with_for_update=True)
            key = await session.get(DestinationKey, (destination_id, kid))
            if row is None or key is None or key.purpose != "encryption" or row.encryption_kid == kid:
                return False
            need = next((n for n in await key_needs(session, destination_id) if n.kid == kid), None)
            if need is None or need.in_flight or need.retired_at is None or need.retired_at > retired_before:
                return False
            await session.execute(
                delete(DestinationKey).where(
                    DestinationKey.destination_id == destination_id, DestinationKey.kid == kid
                )
            )
            acting(session, f"operator:{operator}")
            detail = {"why": why, "kid": kid, "retired_at": need.retired_at.isoformat()}
            record(
                session,
                Entry("operator.prune_key", destination_id=destination_id, outcome="pruned", detail=detail),
            )
        return True


def _published(key: DestinationKey, need: KeyNeed | None, newest_signing: str | None) -> PublishedKey:
    if key.purpose == "signing":
        return PublishedKey(key.kid, key.purpose, key.created, key.created == newest_signing, None, None)
    assert need is not None
    return PublishedKey(key.kid, key.purpose, key.created, need.current, need.retired_at, need.in_flight)
