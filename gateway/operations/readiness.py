"""Readiness: may this process take work? Each check names what it looked at and, if it failed,
why: the database answers; RabbitMQ answers and has the topology (only where this process runs
stages on RabbitMQ); the schema catalogue knows every configured ``schemaUri``; every adapter
binding passed its latest ``check()`` (run by the workers at start); the blob disk has room
for uploads (``limits.min_free_blob_bytes``)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.adapters.host import AdapterHealth
from gateway.broker import BrokerUnavailableError
from gateway.store.readmodel import ReadModel

__all__ = ["Check", "Readiness"]

#: How long the database and the broker may take to answer.
PROBE_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    name: str  #: ``database``, ``broker``, ``schemas``, ``adapter <destination> <service>``
    ok: bool
    problem: str | None = None


@dataclass
class Readiness:
    """The checks of one process; ``amqp_url`` and ``queue`` only where it runs stages on RabbitMQ."""

    read: ReadModel
    schema_uris: Sequence[str]
    knows: Callable[[str], bool]
    adapters: AdapterHealth
    amqp_url: str | None = None
    queue: str = ""  #: a work queue that must exist on the broker
    blobs: Path | None = None  #: the blob directory, whose disk must keep ``min_free_bytes`` free
    min_free_bytes: int = 0

    async def checks(self) -> list[Check]:
        """Every check, the failing ones with their reason."""
        checks = [await self._database()]
        if self.blobs is not None:
            checks.append(self._disk(self.blobs))
        if self.amqp_url:
            checks.append(await self._broker(self.amqp_url))
        unknown = [uri for uri in self.schema_uris if not self.knows(uri)]
        checks.append(
            Check("schemas", not unknown, f"not in the catalogue: {', '.join(unknown)}" if unknown else None)
        )
        checks += [
            Check(f"adapter {r.destination} {r.service}", r.ok, None if r.ok else f"{r.adapter}: {r.problem}")
            for r in self.adapters.results()
        ]
        return checks

    def _disk(self, blobs: Path) -> Check:
        """Room on the blob disk; intake answers 507 storage-full once it is gone."""
        existing = next((p for p in (blobs, *blobs.parents) if p.exists()), blobs)
        try:
            free = shutil.disk_usage(existing).free
        except OSError as exc:
            return Check("blob disk", False, f"{existing}: {exc.strerror or exc}")
        if free < self.min_free_bytes:
            mib = 1024 * 1024
            return Check(
                "blob disk",
                False,
                f"{free // mib} MiB free under {existing}, below {self.min_free_bytes // mib} MiB",
            )
        return Check("blob disk", True)

    async def _database(self) -> Check:
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                await self.read.ping()
        except Exception as exc:  # whatever the driver raises: the probe reports it, never raises
            first = next(iter(str(exc).splitlines()), "")
            return Check("database", False, f"{type(exc).__name__}: {first}"[:300])
        return Check("database", True)

    async def _broker(self, url: str) -> Check:
        from gateway.broker.amqp.stats import queue_stats

        try:
            found = await queue_stats(url, [self.queue], seconds=PROBE_SECONDS)
        except BrokerUnavailableError as exc:
            return Check("broker", False, exc.detail)
        if not found:
            return Check("broker", False, f"queue {self.queue} does not exist: the topology is not declared")
        return Check("broker", True)
