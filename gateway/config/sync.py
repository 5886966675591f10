"""Write the declared tenants, destinations, keys and clients to the database at start.

The configuration file is the truth: rows it no longer declares are retired (destinations become
``decommissioned``, so their submissions stay readable; clients are removed, so their tokens stop
working).

A destination's current encryption key (``destinations.encryption_kid``, what every process
publishes) is the key the configuration pins, else the newest in the key directory; so what
``xgw keys rotate`` set (a new newest key) survives the next start. When the start changes it,
the key it replaces is marked retired (``destination_keys.retired_at``), as a rotation does.

Processes starting together write the same rows: each sync holds the start-up lock for its
transaction (:func:`gateway.store.db.hold_startup_lock`), so they take turns.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.config.model import DestinationConfig
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore
from gateway.errors import ConfigError
from gateway.store.db import hold_startup_lock
from gateway.store.destination_keys import retire_others
from gateway.store.models import Client, Destination, DestinationKey, Tenant


def current_encryption_kid(dest: DestinationConfig, keys: KeyStore) -> str:
    """The pinned key, or the newest encryption key; raises ``ConfigError`` if there is none."""
    enc = [k.kid for k in keys.keys(str(dest.id)) if k.purpose == "encryption"]
    if not enc:
        raise ConfigError(
            f"no encryption key: run `xgw keys generate {dest.id}`", path=f"destination {dest.id}"
        )
    if dest.encryption_kid:
        if dest.encryption_kid not in enc:
            raise ConfigError("no such encryption key", path=f"destination {dest.id}.encryption_kid")
        return dest.encryption_kid
    return enc[-1]


async def sync_config(sessions: async_sessionmaker[AsyncSession], settings: Settings, keys: KeyStore) -> None:
    async with sessions.begin() as session:
        await hold_startup_lock(session)
        declared: list[str] = []
        for tenant in settings.tenants:
            await session.merge(Tenant(id=tenant.id, name=tenant.name))
            for dest in tenant.destinations:
                dest_id = str(dest.id)
                declared.append(dest_id)
                current = current_encryption_kid(dest, keys)
                before = await session.scalar(
                    select(Destination.encryption_kid).where(Destination.id == dest_id)
                )
                await session.merge(
                    Destination(
                        id=dest_id,
                        tenant_id=tenant.id,
                        name=dest.name,
                        status=dest.status,
                        encryption_kid=current,
                        metadata_versions=list(dest.metadata_versions),
                        reply_channels=dest.reply_channels,
                        services=[s.model_dump(mode="json") for s in dest.services],
                    )
                )
                for pair in keys.keys(dest_id):
                    await session.merge(
                        DestinationKey(
                            destination_id=dest_id,
                            kid=pair.kid,
                            purpose=pair.purpose,
                            public_jwk=pair.public_jwk,
                            created=pair.created,
                        )
                    )
                if before is not None and before != current:
                    await session.flush()
                    await retire_others(session, dest_id, current)
        await session.execute(
            update(Destination).where(Destination.id.not_in(declared)).values(status="decommissioned")
        )
        client_ids = [c.id for c in settings.clients]
        await session.execute(delete(Client).where(Client.id.not_in(client_ids)))
        for client in settings.clients:
            await session.merge(
                Client(
                    id=client.id,
                    secret_hash=client.secret_hash,
                    destinations=[str(d) for d in client.destinations],
                    regions=list(client.regions),
                )
            )
