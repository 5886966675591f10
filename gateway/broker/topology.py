"""Queue topology of the delivery fabric: names, arguments, retry levels.

Every name starts with a namespace (default ``xgw``) so that several gateways, or many tests,
can share one vhost::

    {ns}.validate                validate stage (intake → validator)
    {ns}.deliver.<destination>   deliver stage, one per destination (validator → adapter)
    {ns}.callbacks               callbacks stage (sender notifications)
    {ns}.retry.<level>           delay queues, shared by all work queues (TTL = delay of the level)
    {ns}.dead                    what the broker dead-lettered on its own (delivery limit after
                                 crashes or connection losses), until the gateway recorded it
    {ns}.parked.<origin suffix>  parked messages of a work queue: ``{ns}.parked.validate``,
                                 ``{ns}.parked.deliver.<destination>``, ``{ns}.parked.callbacks``

A transient failure is *republished* to the fanout exchange ``{ns}.retry.<level>`` with the origin
queue name as routing key and the original acked; when the TTL expires the delay queue
dead-letters the message through the default exchange, which routes it by that key back to its
origin queue. No hot requeue, and nothing stays unacked while it waits, so RabbitMQ's
``consumer_timeout`` never fires. The gateway parks a message by publishing it to its parked
queue with the reason in headers; a work queue's own dead letters (more redeliveries than
``delivery_limit``) go to ``{ns}.dead``, whose consumer records them in the database first and
then parks them the same way, so that no message is parked without the database knowing why.

All queues are quorum queues with explicit ``x-delivery-limit``, ``x-overflow: reject-publish`` and
at-least-once dead-lettering, so RabbitMQ 3.10 (no default limit) and 4.x (default limit 20 and
drop without DLX) behave the same. The same data is exported as RabbitMQ definitions
(``deploy/rabbitmq/definitions.json``, see :func:`main`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DESTINATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")

#: Delivery limit of the parked and dead-letter queues: large, explicit, so RabbitMQ 4.x does not
#: drop a message after 20 failed deliveries (these queues have no dead-letter target of their own).
PARKED_DELIVERY_LIMIT = 1_000_000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a transient failure is retried.

    ``max_attempts`` counts deliveries through the handler (attempt 1 is the first); attempt *n*
    that fails transiently waits ``delays_ms[min(n - 1, last)]`` before attempt *n + 1*, so the
    last delay is the cap. The topology's policy has one delay queue (level) per entry of
    ``delays_ms``; a work's own policy (an adapter binding's) is served by those levels.
    """

    max_attempts: int = 8
    delays_ms: tuple[int, ...] = (1_000, 4_000, 16_000, 64_000, 256_000, 900_000)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.delays_ms or any(d <= 0 for d in self.delays_ms):
            raise ValueError("delays_ms must be a non-empty tuple of positive integers")

    @classmethod
    def exponential(
        cls, *, base_ms: int, cap_ms: int, factor: float = 4.0, max_attempts: int = 8
    ) -> RetryPolicy:
        """Delays ``base_ms * factor**i`` up to and including ``cap_ms``."""
        if base_ms <= 0 or cap_ms < base_ms or factor <= 1:
            raise ValueError("need 0 < base_ms <= cap_ms and factor > 1")
        delays: list[int] = []
        delay = float(base_ms)
        while delay < cap_ms and len(delays) < max_attempts:
            delays.append(int(delay))
            delay *= factor
        delays.append(cap_ms)
        return cls(max_attempts=max_attempts, delays_ms=tuple(delays))

    def level(self, attempt: int) -> int:
        """Delay level used after a transient failure of ``attempt``."""
        return min(max(attempt, 1) - 1, len(self.delays_ms) - 1)

    def level_at_least(self, delay_ms: float) -> int:
        """The shortest delay level of at least ``delay_ms`` (the longest level caps it)."""
        fitting = [(delay, level) for level, delay in enumerate(self.delays_ms) if delay >= delay_ms]
        return min(fitting)[1] if fitting else self.delays_ms.index(max(self.delays_ms))

    def delay_ms(self, attempt: int) -> int:
        """Delay before the attempt that follows ``attempt``."""
        return self.delays_ms[self.level(attempt)]


@dataclass(frozen=True)
class QueueSpec:
    """One queue: its name and its declaration arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Topology:
    """Names and arguments of every queue and exchange, under one namespace."""

    namespace: str = "xgw"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    delivery_limit: int = 5

    def __post_init__(self) -> None:
        if not _NAMESPACE.match(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} must match {_NAMESPACE.pattern}")
        if self.delivery_limit < 1:
            raise ValueError("delivery_limit must be at least 1")

    @property
    def validate_queue(self) -> str:
        """Queue of the validate stage."""
        return f"{self.namespace}.validate"

    @property
    def dead_queue(self) -> str:
        """Dead letters of every work queue, waiting to be recorded and parked."""
        return f"{self.namespace}.dead"

    @property
    def callback_queue(self) -> str:
        """Queue of the sender-callback stage."""
        return f"{self.namespace}.callbacks"

    def route(self, stage: str) -> str:
        """The queue of a logical route as the database stores it: ``validate``, ``callbacks``
        or ``deliver.<destination id>``; raises ``ValueError`` for anything else."""
        if stage == "validate":
            return self.validate_queue
        if stage == "callbacks":
            return self.callback_queue
        if stage.startswith("deliver."):
            return self.deliver_queue(stage.removeprefix("deliver."))
        raise ValueError(f"unknown route {stage!r}")

    def deliver_queue(self, destination_id: str) -> str:
        """Queue of one destination's adapter runner; raises ``ValueError`` on a bad id."""
        if not _DESTINATION.match(destination_id):
            raise ValueError(f"destination id {destination_id!r} must match {_DESTINATION.pattern}")
        return f"{self.namespace}.deliver.{destination_id}"

    def parked_queue(self, origin: str) -> str:
        """Dead-letter queue of the work queue ``origin``."""
        prefix = f"{self.namespace}."
        if not origin.startswith(prefix):
            raise ValueError(f"queue {origin!r} is not in namespace {self.namespace!r}")
        return f"{self.namespace}.parked.{origin[len(prefix) :]}"

    def retry_queue(self, level: int) -> str:
        """Delay queue of ``level``; the fanout exchange in front of it has the same name."""
        if not 0 <= level < len(self.retry.delays_ms):
            raise ValueError(f"no retry level {level}")
        return f"{self.namespace}.retry.{level}"

    def work_queues(self, destinations: Iterable[str] = ()) -> list[str]:
        """The queues stage handlers read: validate, callbacks, then one per destination."""
        return [self.validate_queue, self.callback_queue, *(self.deliver_queue(d) for d in destinations)]

    def queues(self, destinations: Iterable[str] = ()) -> list[QueueSpec]:
        """Every queue, in declaration order (dead-letter targets before their sources)."""
        base = {
            "x-queue-type": "quorum",
            "x-overflow": "reject-publish",
        }
        specs: list[QueueSpec] = []
        for level, delay in enumerate(self.retry.delays_ms):
            args = {
                **base,
                "x-delivery-limit": self.delivery_limit,
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-strategy": "at-least-once",
            }
            specs.append(QueueSpec(self.retry_queue(level), args))
        kept = {**base, "x-delivery-limit": PARKED_DELIVERY_LIMIT}
        specs.append(QueueSpec(self.dead_queue, kept))
        for work in self.work_queues(destinations):
            specs.append(QueueSpec(self.parked_queue(work), kept))
            args = {
                **base,
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.dead_queue,
                "x-dead-letter-strategy": "at-least-once",
            }
            specs.append(QueueSpec(work, args))
        return specs

    def exchanges(self) -> list[str]:
        """Fanout exchanges, one per retry level, each bound to its delay queue."""
        return [self.retry_queue(level) for level in range(len(self.retry.delays_ms))]

    def definitions(self, destinations: Sequence[str] = (), *, vhost: str = "/") -> dict[str, Any]:
        """The topology as a RabbitMQ definitions document (``rabbitmqctl import_definitions``)."""
        queues = [
            {"name": q.name, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": q.arguments}
            for q in self.queues(destinations)
        ]
        exchanges = [
            {
                "name": x,
                "vhost": vhost,
                "type": "fanout",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for x in self.exchanges()
        ]
        bindings = [
            {
                "source": x,
                "vhost": vhost,
                "destination": x,
                "destination_type": "queue",
                "routing_key": "",
                "arguments": {},
            }
            for x in self.exchanges()
        ]
        return {"queues": queues, "exchanges": exchanges, "bindings": bindings}


def render_definitions(topology: Topology, destinations: Sequence[str]) -> str:
    """Definitions as stable, reviewable JSON text (sorted keys, trailing newline)."""
    return json.dumps(topology.definitions(destinations), indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m gateway.broker [--namespace NS] [DESTINATION ...]`` prints definitions."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway.broker", description="Print the RabbitMQ definitions of the topology."
    )
    parser.add_argument("--namespace", default="xgw", help="queue name prefix")
    parser.add_argument("destinations", nargs="*", help="destination ids")
    args = parser.parse_args(argv)
    sys.stdout.write(render_definitions(Topology(namespace=args.namespace), args.destinations))
