"""Wrapped content keys: what the validate stage leaves for the deliver stage (``content_keys``).

One row per part of a validated submission (``metadata``, ``data``, ``attachment:<id>``): the
kid of the local wrap key and the wrapped bytes, never a bare content key. The rows are written
in the transaction that makes the submission ``validated``, read by the deliver stage, and
deleted with the submission's content (:mod:`gateway.store.retention`). A submission validated
before this table existed has no rows: the deliver stage then unwraps with RSA as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.models import ContentKey

__all__ = ["StoredKey", "add_content_keys", "content_keys", "delete_content_keys", "wrap_kids_in_use"]


@dataclass(frozen=True)
class StoredKey:
    """A wrapped content key as stored: the wrap key's kid and the wrapped bytes."""

    kid: str
    wrapped: bytes


async def add_content_keys(session: AsyncSession, submission_id: str, keys: Mapping[str, StoredKey]) -> None:
    """Store the wrapped keys of a submission's parts (in the caller's transaction)."""
    if keys:
        rows = [
            {"submission_id": submission_id, "part": part, "wrap_kid": key.kid, "wrapped": key.wrapped}
            for part, key in keys.items()
        ]
        await session.execute(insert(ContentKey), rows)


async def content_keys(session: AsyncSession, submission_id: str) -> dict[str, StoredKey]:
    """The wrapped keys of a submission by part (empty: validated before keys were kept)."""
    rows = await session.execute(
        select(ContentKey.part, ContentKey.wrap_kid, ContentKey.wrapped).where(
            ContentKey.submission_id == submission_id
        )
    )
    return {part: StoredKey(kid, bytes(wrapped)) for part, kid, wrapped in rows}


async def delete_content_keys(session: AsyncSession, submission_id: str) -> None:
    await session.execute(delete(ContentKey).where(ContentKey.submission_id == submission_id))


async def wrap_kids_in_use(sessions: async_sessionmaker[AsyncSession]) -> frozenset[str]:
    """Every wrap key kid a stored wrapped key names (those keys must stay)."""
    async with sessions() as session:
        return frozenset(await session.scalars(select(ContentKey.wrap_kid).distinct()))
