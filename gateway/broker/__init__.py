"""The broker fabric: the broker interface, queue topology, message fate and consumers.

The stages depend on :class:`Broker`, :class:`Handler` and the outcomes of
:mod:`gateway.broker.fate` only; aio-pika lives in ``gateway.broker.amqp`` and is imported only
when a broker URL is configured.
"""

from __future__ import annotations

from typing import Any

from gateway.broker.base import (
    MAX_ENVELOPE_BYTES,
    Broker,
    BrokerUnavailableError,
    Consumer,
    DeadLetter,
    Delivery,
    Envelope,
    EnvelopeError,
    Handler,
    OutgoingMessage,
    PublishError,
)
from gateway.broker.fate import DONE, Done, Outcome, Park, Retry, Settlement, Wait, settle
from gateway.broker.memory import MemoryBroker
from gateway.broker.topology import RetryPolicy, Topology

__all__ = [
    "DONE",
    "MAX_ENVELOPE_BYTES",
    "Broker",
    "BrokerUnavailableError",
    "Consumer",
    "DeadLetter",
    "Delivery",
    "Done",
    "Envelope",
    "EnvelopeError",
    "Handler",
    "MemoryBroker",
    "Outcome",
    "OutgoingMessage",
    "Park",
    "PublishError",
    "Retry",
    "RetryPolicy",
    "Settlement",
    "Topology",
    "Wait",
    "create_broker",
    "settle",
]


def create_broker(amqp_url: str | None, topology: Topology | None = None, **amqp_options: Any) -> Broker:
    """The in-process broker when ``amqp_url`` is empty, else RabbitMQ (``AmqpBroker`` keyword
    options: ``heartbeat``, ``connect_timeout``, ``publish_timeout``, ``reconnect_delay``, ``name``)."""
    if not amqp_url:
        return MemoryBroker(topology)
    from gateway.broker.amqp import AmqpBroker

    return AmqpBroker(amqp_url, topology, **amqp_options)
