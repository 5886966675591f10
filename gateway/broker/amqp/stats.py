"""Messages and consumers per queue, as RabbitMQ reports them to a passive ``queue.declare``
(works without the management plugin)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import aio_pika
import aiormq.exceptions

from gateway.broker.amqp.channel import ERRORS
from gateway.broker.amqp.probe import describe
from gateway.broker.base import BrokerUnavailableError

__all__ = ["QueueStats", "queue_stats"]


@dataclass(frozen=True)
class QueueStats:
    """A queue's ready messages (not those delivered and unacked) and its consumers."""

    queue: str
    messages: int
    consumers: int


async def queue_stats(url: str, queues: Sequence[str], *, seconds: float = 5.0) -> list[QueueStats]:
    """The counts of each queue that exists (missing ones are left out), on a short-lived
    connection; raises :class:`BrokerUnavailableError` naming where RabbitMQ was expected."""
    found: list[QueueStats] = []
    try:
        async with asyncio.timeout(seconds):
            connection = await aio_pika.connect(url, timeout=seconds)
            try:
                channel = await connection.channel()
                for name in queues:
                    try:
                        queue = await channel.declare_queue(name, passive=True)
                    except aiormq.exceptions.ChannelNotFoundEntity:
                        channel = await connection.channel()  # a failed declare closes the channel
                        continue
                    result = queue.declaration_result
                    found.append(QueueStats(name, result.message_count or 0, result.consumer_count or 0))
            finally:
                await connection.close()
    except (*ERRORS, OSError) as exc:
        raise BrokerUnavailableError(f"cannot reach RabbitMQ at {describe(url)}: {exc}") from exc
    return found
