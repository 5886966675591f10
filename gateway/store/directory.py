"""Reads of the published directory: active destinations, their public keys, tenant names."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.store.models import Destination, DestinationKey, Tenant

__all__ = ["active_destinations", "public_keys_of", "tenant_names"]


async def active_destinations(session: AsyncSession) -> Sequence[Destination]:
    """Destinations that accept submissions, by id."""
    query = select(Destination).where(Destination.status == "active").order_by(Destination.id)
    return (await session.scalars(query)).all()


async def public_keys_of(
    session: AsyncSession, destination_ids: Sequence[str], purpose: str | None = None
) -> Sequence[DestinationKey]:
    """The keys of these destinations (of one purpose, if given)."""
    query = select(DestinationKey).where(DestinationKey.destination_id.in_(destination_ids))
    if purpose is not None:
        query = query.where(DestinationKey.purpose == purpose)
    return (await session.scalars(query)).all()


async def tenant_names(session: AsyncSession) -> dict[str, str]:
    """Tenant id → name."""
    return {t.id: t.name for t in (await session.scalars(select(Tenant))).all()}
