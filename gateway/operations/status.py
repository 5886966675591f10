"""``xgw status`` as data: every stage and destination with its backlog, the outbox lag, the
broker's messages and consumers per queue (RabbitMQ only) and the keys in-flight work may need."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.broker.topology import Topology
from gateway.store.backlog import STATES, DestinationBacklog, KeyNeed, OutboxLag
from gateway.store.readmodel import ReadModel

if TYPE_CHECKING:
    from gateway.broker.amqp.stats import QueueStats

__all__ = ["Stage", "Status", "broker_queues", "read_status"]


@dataclass(frozen=True)
class Stage:
    """One work queue: what waits for it in the database, what is parked, and (RabbitMQ) what
    the broker holds ready and how many consumers read it."""

    name: str  #: ``validate``, ``callbacks``, ``deliver.<destination>``
    queue: str
    waiting: int
    parked: int
    messages: int | None = None
    consumers: int | None = None


@dataclass(frozen=True)
class Status:
    at: dt.datetime
    stages: list[Stage]
    destinations: list[DestinationBacklog]
    outbox: list[OutboxLag]
    keys: list[KeyNeed]
    broker: str  #: ``in-process``, ``rabbitmq``, or the reason RabbitMQ did not answer

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601, and ages in seconds at ``at`` beside them."""
        out: dict[str, Any] = _plain(dataclasses.asdict(self))
        for backlog, raw in zip(out["destinations"], self.destinations, strict=True):
            backlog["oldest_waiting_seconds"] = _age(self.at, raw.oldest_waiting)
        for lag, raw_lag in zip(out["outbox"], self.outbox, strict=True):
            lag["oldest_seconds"] = _age(self.at, raw_lag.oldest)
        return out


def _age(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else round(max((now - then).total_seconds(), 0.0), 3)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.isoformat() if isinstance(value, dt.datetime) else value


async def broker_queues(amqp_url: str | None, queues: list[str]) -> tuple[list[QueueStats], str]:
    """The broker's counts of ``queues`` and what the broker is (or why it did not answer)."""
    if not amqp_url:
        return [], "in-process"
    from gateway.broker import BrokerUnavailableError
    from gateway.broker.amqp.stats import queue_stats

    try:
        return await queue_stats(amqp_url, queues), "rabbitmq"
    except BrokerUnavailableError as exc:
        return [], str(exc)


async def read_status(
    read: ReadModel, topology: Topology, amqp_url: str | None, now: dt.datetime | None = None
) -> Status:
    """The status at ``now`` (default: the current time)."""
    now = now or dt.datetime.now(dt.UTC)
    destinations = await read.backlogs(now)
    parked = await read.parked()
    outbox = await read.outbox()
    keys = await read.keys()
    live = [d.destination_id for d in destinations if d.status != "decommissioned"]
    queues = {
        "validate": topology.validate_queue,
        "callbacks": topology.callback_queue,
        **{f"deliver.{d}": topology.deliver_queue(d) for d in live},
    }
    found, broker = await broker_queues(amqp_url, list(queues.values()))
    counts = {q.queue: q for q in found}
    unsent = {lag.route: lag.pending for lag in outbox}
    waiting = {
        "validate": sum(d.counts["validating"] for d in destinations),
        "callbacks": unsent.get("callbacks", 0),
        **{f"deliver.{d.destination_id}": sum(d.counts[s] for s in STATES[1:4]) for d in destinations},
    }
    stages = [
        Stage(
            name,
            queue,
            waiting.get(name, 0),
            parked.get(queue, 0),
            counts[queue].messages if queue in counts else None,
            counts[queue].consumers if queue in counts else None,
        )
        for name, queue in queues.items()
    ]
    return Status(now, stages, destinations, outbox, keys, broker)
