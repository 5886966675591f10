"""The stages behind intake, run in this process: the outbox relay and one consumer per queue.

``xgw serve`` runs them next to the HTTP API; ``xgw worker`` / ``xgw relay`` run them alone.
With the in-process broker nothing survives a restart on the broker side, so in-flight work is
re-enqueued from the database at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from gateway.delivery import (
    Broker,
    Consumer,
    Handler,
    MemoryBroker,
    Relay,
    RetryPolicy,
    Topology,
    create_broker,
)
from gateway.settings import Settings
from gateway.store.outbox import DatabaseOutbox
from gateway.store.recovery import requeue_in_flight

log = structlog.get_logger()


def topology_of(settings: Settings) -> Topology:
    retry = RetryPolicy(
        max_attempts=settings.delivery.max_attempts, delays_ms=tuple(settings.delivery.retry_delays_ms)
    )
    return Topology(
        namespace=settings.delivery.namespace, retry=retry, delivery_limit=settings.delivery.delivery_limit
    )


def broker_of(settings: Settings) -> Broker:
    url = settings.amqp_url.get_secret_value() if settings.amqp_url else None
    return create_broker(url, topology_of(settings))


@dataclass
class Pipeline:
    """A started relay and consumers; ``stop()`` drains them gracefully."""

    broker: Broker
    relay: Relay | None
    consumers: list[Consumer] = field(default_factory=list)

    async def stop(self, grace: float = 30.0) -> None:
        for consumer in self.consumers:
            await consumer.stop(grace)
        if self.relay is not None:
            await self.relay.stop(grace)
        await self.broker.close()
        log.info("pipeline_stopped")


async def start_pipeline(
    settings: Settings,
    outbox: DatabaseOutbox,
    broker: Broker,
    handlers: Mapping[str, Handler],
    destinations: list[str],
    *,
    relay: bool = True,
) -> Pipeline:
    """Declare the topology, recover in-flight work if needed, start the relay and ``handlers``
    (queue name → handler)."""
    await broker.declare(destinations)
    if isinstance(broker, MemoryBroker):
        recovered = await requeue_in_flight(outbox.sessions)
        if recovered:
            log.info("in_flight_requeued", submissions=recovered)
    pipeline = Pipeline(broker, None)
    if relay:
        pipeline.relay = Relay(
            outbox,
            broker,
            batch_size=settings.delivery.relay_batch_size,
            poll_interval=settings.delivery.relay_poll_seconds,
        )
        pipeline.relay.start()
    for queue, handler in handlers.items():
        pipeline.consumers.append(await broker.consume(queue, handler, prefetch=settings.delivery.prefetch))
    log.info("pipeline_started", queues=list(handlers), relay=relay)
    return pipeline
