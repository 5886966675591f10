"""A destination's keys for operators: rotate, list, prune (``xgw keys``,
``/admin/v1/destinations/{id}/keys``).

**Where the current key lives.** ``destinations.encryption_kid`` in the database is what every
process publishes (``/v1/destinations/{id}``, the v2 key list, routing answers); intake accepts
JWEs for any published encryption key, and the stages decrypt with every private key in the key
directory (shared by all processes). At start each process sets the current key to the one the
configuration pins, else the newest in the key directory (:mod:`gateway.config.sync`), which is
the one a rotation made current: a rotation survives restarts. A destination whose configuration
pins ``encryption_kid`` is not rotated here (the next start would undo it): change the pin.

**Rotate** (encryption, the default) generates an RSA-4096 key pair, writes the private key to the
key directory, then in one transaction publishes the public key, makes it current and marks the
previous key retired (``destination_keys.retired_at``), with the operator's audit entry
``operator.rotate_key``. Senders that read the destination from then on encrypt to the new key;
submissions encrypted to the old one still decrypt.

**Rotate signing** (``use="signing"``) publishes a new PS512 key first and writes its private key
after, so nothing is signed with a key senders cannot fetch; from then on the destination's SETs
(accept, reject) are signed with it. Signing keys are never pruned: the event log's SETs must stay
verifiable for as long as the log is kept.

**Prune** removes a retired encryption key once no submission in flight (created, submitted,
validated, parked; not yet delivered or rejected) was created before its retirement, and it was
retired longer than a grace ago (senders that fetched the key just before the rotation may still
create a submission with it). It unpublishes the key (a sender still using it is refused at
intake with ``jwe-unknown-key``), with the audit entry ``operator.prune_key``, then deletes the
private key file. Pruning is an operator's explicit step, never automatic: deleting a private key
cannot be undone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from gateway.config.settings import Settings
from gateway.crypto.keys import KeyPair, KeyStore, Purpose, generate_key_pair
from gateway.errors import ConflictError, ForbiddenError, NotFoundError
from gateway.operations.parked import Operator
from gateway.pools import Pool, run_in
from gateway.store.destination_keys import KeyRecords, NewKey, PublishedKey

__all__ = ["DEFAULT_GRACE", "KeyService", "pinned_kids", "PruneOutcome", "Pruned", "Rotation", "as_json"]

log = structlog.get_logger()
#: How long a retired key stays at least, by default, before ``prune`` removes it.
DEFAULT_GRACE = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: the new key, and the one it replaced (``None``: there was none)."""

    destination_id: str
    use: Purpose
    kid: str
    previous: str | None


PruneOutcome = Literal["pruned", "would-prune", "needed", "recent"]


@dataclass(frozen=True)
class Pruned:
    """What prune did with one retired encryption key."""

    destination_id: str
    kid: str
    outcome: PruneOutcome
    retired_at: dt.datetime | None
    in_flight: int


def as_json(value: Rotation | Pruned | PublishedKey) -> dict[str, Any]:
    """A rotation, prune result or published key as JSON (times in ISO 8601)."""
    out = dataclasses.asdict(value)
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in out.items()}


def pinned_kids(settings: Settings) -> dict[str, str]:
    """Destination id → the encryption kid its configuration pins."""
    return {str(d.id): d.encryption_kid for t in settings.tenants for d in t.destinations if d.encryption_kid}


class KeyService:
    """Rotate, list and prune within the operator's scope; ``pinned`` maps the destinations
    whose configuration pins ``encryption_kid`` to that kid."""

    def __init__(self, records: KeyRecords, keys: KeyStore, pinned: Mapping[str, str] | None = None) -> None:
        self.records = records
        self.keys = keys
        self.pinned = dict(pinned or {})

    async def _check(self, operator: Operator, destination_id: str) -> None:
        if not operator.sees(destination_id):
            raise ForbiddenError("not a destination of this operator", slug="forbidden")
        if await self.records.destination(destination_id) is None:
            raise NotFoundError(f"no destination {destination_id!r}", slug="destination-not-found")

    async def rotate(
        self, operator: Operator, destination_id: str, why: str, use: Purpose = "encryption"
    ) -> Rotation:
        """A new key of ``use`` for the destination, published and (encryption) current; raises
        ``ForbiddenError`` outside the scope, ``NotFoundError`` for no destination,
        ``ConflictError`` when the configuration pins the encryption key."""
        await self._check(operator, destination_id)
        if use == "encryption" and destination_id in self.pinned:
            raise ConflictError(
                f"the configuration pins encryption_kid = {self.pinned[destination_id]!r} for this "
                "destination: generate a key (`xgw keys generate`), change the pin and restart",
                slug="key-pinned",
            )
        pair = await run_in(Pool.SIGNING, generate_key_pair, use, destination_id)
        new = NewKey(pair.kid, use, pair.created, pair.public_jwk)
        if use == "encryption":  # decryptable before any sender can learn of it
            self.keys.store(destination_id, pair)
            previous = await self._publish(operator, destination_id, new, why, pair)
        else:  # published before anything is signed with it
            previous = await self._publish(operator, destination_id, new, why, pair)
            self.keys.store(destination_id, pair)
        log.info("key_rotated", destination_id=destination_id, use=use, kid=pair.kid, previous=previous)
        return Rotation(destination_id, use, pair.kid, previous)

    async def _publish(
        self, operator: Operator, destination_id: str, new: NewKey, why: str, pair: KeyPair
    ) -> str | None:
        try:
            return await self.records.rotate(destination_id, new, operator.id, why)
        except LookupError:
            self.keys.remove(destination_id, pair.kid)
            raise NotFoundError(f"no destination {destination_id!r}", slug="destination-not-found") from None

    async def published(self, operator: Operator, destination_id: str) -> list[PublishedKey]:
        """The destination's published keys, oldest first, with what in-flight work needs them."""
        await self._check(operator, destination_id)
        return await self.records.published(destination_id)

    async def prune(
        self,
        operator: Operator,
        destination_id: str,
        why: str,
        *,
        grace: dt.timedelta = DEFAULT_GRACE,
        dry_run: bool = False,
        now: dt.datetime | None = None,
    ) -> list[Pruned]:
        """Remove the destination's retired encryption keys that nothing in flight needs and that
        were retired longer than ``grace`` ago (``dry_run``: only say which); one result per
        retired key."""
        await self._check(operator, destination_id)
        cutoff = (now or dt.datetime.now(dt.UTC)) - grace
        results: list[Pruned] = []
        outcome: PruneOutcome
        for need in await self.records.needs(destination_id):
            if need.current or need.retired_at is None:
                continue
            if need.in_flight:
                outcome, in_flight = "needed", need.in_flight
            elif need.retired_at > cutoff:
                outcome, in_flight = "recent", 0
            elif dry_run:
                outcome, in_flight = "would-prune", 0
            elif await self.records.prune(destination_id, need.kid, operator.id, why, cutoff):
                self.keys.remove(destination_id, need.kid)
                log.info("key_pruned", destination_id=destination_id, kid=need.kid, operator=operator.id)
                outcome, in_flight = "pruned", 0
            else:  # a submission in flight turned up meanwhile
                again = {n.kid: n.in_flight for n in await self.records.needs(destination_id)}
                outcome, in_flight = "needed", again.get(need.kid, 0)
            results.append(Pruned(destination_id, need.kid, outcome, need.retired_at, in_flight))
        return results
