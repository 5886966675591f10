"""Where a destination's current encryption key lives: the database, which each process sets at
start to the pinned key or the newest in the key directory. A rotation survives a restart; a key
generated and published by a restart retires the one before; a pinned destination is not rotated."""

from __future__ import annotations

import pytest

from gateway.app import open_gateway
from gateway.config.settings import Settings
from gateway.errors import ConflictError, NotFoundError
from gateway.operations.keys import KeyService
from gateway.operations.parked import Operator
from gateway.store.destination_keys import KeyRecords, PublishedKey
from tests.conftest import ACTIVE, OTHER

OPERATOR = Operator("tester")


def encryption(keys: list[PublishedKey]) -> dict[str, PublishedKey]:
    return {k.kid: k for k in keys if k.purpose == "encryption"}


async def test_a_rotation_survives_a_restart_and_a_pinned_destination_is_refused(settings: Settings) -> None:
    async with open_gateway(settings, frozenset({"api"})) as gateway:
        records = KeyRecords(gateway.sessions)
        service = KeyService(records, gateway.keys, {OTHER: "pinned-in-the-config"})
        first = await service.rotate(OPERATOR, ACTIVE, "test")
        with pytest.raises(ConflictError):
            await service.rotate(OPERATOR, OTHER, "pinned")
        with pytest.raises(NotFoundError):
            await service.rotate(OPERATOR, "00000000-0000-0000-0000-000000000000", "unknown")
        with pytest.raises(NotFoundError):
            await service.published(OPERATOR, "00000000-0000-0000-0000-000000000000")
        rotated = encryption(await records.published(ACTIVE))
        assert first.previous is not None and rotated[first.previous].retired_at is not None
        generated = gateway.keys.generate(ACTIVE, "encryption")  # `xgw keys generate`, then a restart

    async with open_gateway(settings, frozenset({"api"})) as gateway:
        after = encryption(await KeyRecords(gateway.sessions).published(ACTIVE))
        assert [k.kid for k in after.values() if k.current] == [generated.kid]
        assert after[first.previous].retired_at == rotated[first.previous].retired_at  # not moved
        assert after[first.kid].retired_at is not None  # retired by the restart that published the next
        assert after[generated.kid].retired_at is None

    async with open_gateway(settings, frozenset({"api"})) as gateway:  # nothing changed: nothing retired
        again = encryption(await KeyRecords(gateway.sessions).published(ACTIVE))
        assert {k: v.retired_at for k, v in again.items()} == {k: v.retired_at for k, v in after.items()}
