"""Readiness: may this process take work? Each check names what it looked at and, if it failed,
why: the database answers; RabbitMQ answers and has the topology (only where this process runs
stages on RabbitMQ); the schema catalogue knows every configured ``schemaUri``; every adapter
binding passed its latest ``check()`` (run by the workers at start)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

    async def checks(self) -> list[Check]:
        """Every check, the failing ones with their reason."""
        checks = [await self._database()]
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
