"""Delivery fabric: broker interface, topology, outbox relay and consumers.

The rest of the gateway depends on :class:`Broker` and :class:`OutboxSource` only; aio-pika lives in
``gateway.delivery.amqp`` and is imported only when a broker URL is configured.
"""

from __future__ import annotations

from typing import Any

from gateway.delivery.broker import (
    MAX_ENVELOPE_BYTES,
    Broker,
    BrokerUnavailableError,
    Consumer,
    Delivery,
    Envelope,
    EnvelopeError,
    Handler,
    Outcome,
    OutgoingMessage,
    PublishError,
)
from gateway.delivery.memory import MemoryBroker
from gateway.delivery.relay import BatchResult, OutboxRow, OutboxSource, Relay
from gateway.delivery.topology import RetryPolicy, Topology

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "BatchResult",
    "Broker",
    "BrokerUnavailableError",
    "Consumer",
    "Delivery",
    "Envelope",
    "EnvelopeError",
    "Handler",
    "MemoryBroker",
    "OutboxRow",
    "OutboxSource",
    "Outcome",
    "OutgoingMessage",
    "PublishError",
    "Relay",
    "RetryPolicy",
    "Topology",
    "create_broker",
]


def create_broker(amqp_url: str | None, topology: Topology | None = None, **amqp_options: Any) -> Broker:
    """The in-process broker when ``amqp_url`` is empty, else RabbitMQ (``AmqpBroker`` keyword
    options: ``heartbeat``, ``connect_timeout``, ``publish_timeout``, ``reconnect_delay``, ``name``)."""
    if not amqp_url:
        return MemoryBroker(topology)
    from gateway.delivery.amqp import AmqpBroker

    return AmqpBroker(amqp_url, topology, **amqp_options)
