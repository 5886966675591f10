"""One confirm channel for publishing, and the translation of aio-pika's publish errors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from gateway.broker.base import (
    ATTEMPT_HEADER,
    CONTENT_TYPE,
    DEAD_ORIGIN_HEADER,
    DEAD_REASON_HEADER,
    DeadLetter,
    PublishError,
)

#: What a lost connection or channel raises, plus timeouts.
ERRORS = (*CONNECTION_EXCEPTIONS, TimeoutError)


def translate_publish_error(exc: BaseException, *, queue: str, message_id: str) -> PublishError:
    """Map what aio-pika/aiormq raise for one publish to a :class:`PublishError`."""
    if isinstance(exc, aiormq.exceptions.PublishError):
        reason = "unroutable"  # basic.return of a mandatory publish (on_return_raises=True)
    elif isinstance(exc, aiormq.exceptions.DeliveryError):
        reason = "nacked"  # basic.nack: the broker could not take it; retry (aiormq #75)
    elif isinstance(exc, TimeoutError):
        reason = "timeout"  # no confirm in time (blocked connection, slow link): outcome unknown
    else:
        reason = "connection"  # connection or channel lost: pending confirms are rejected
    return PublishError(
        f"publish to {queue!r} not confirmed ({reason}): {exc!r}",
        queue=queue,
        message_id=message_id,
        reason=reason,
    )


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def dead_letter_of(headers: Mapping[str, Any]) -> DeadLetter | None:
    """Origin and reason of a dead letter: our own headers (kept across delayed retries of its
    record), else RabbitMQ's most recent death (``x-last-death-*``, or the newest ``x-death``
    entry); never the first death, which for a retried message is its delay queue's expiry."""
    if DEAD_ORIGIN_HEADER in headers:
        return DeadLetter(_text(headers[DEAD_ORIGIN_HEADER]), _text(headers.get(DEAD_REASON_HEADER, "")))
    deaths = headers.get("x-death")
    newest = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping) else {}
    origin = headers.get("x-last-death-queue", newest.get("queue"))
    if origin is None:
        return None
    reason = headers.get("x-last-death-reason", newest.get("reason", ""))
    count = newest.get("count", 1)
    return DeadLetter(_text(origin), _text(reason), count if isinstance(count, int) else 1)


def is_open(connection: AbstractConnection) -> bool:
    """Whether the connection still works. aio-pika's ``is_closed`` stays False when the broker
    drops a plain connection, so ask the aiormq connection underneath."""
    return connection.transport is not None and not connection.transport.connection.is_closed


def with_heartbeat(url: str, heartbeat: int) -> str:
    """``url`` with a ``heartbeat`` query parameter unless it already has one."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    if any(key == "heartbeat" for key, _ in query):
        return url
    return urlunsplit(parts._replace(query=urlencode([*query, ("heartbeat", heartbeat)])))


class Publisher:
    """A confirm channel. aiormq matches returns to publishes by ``message_id``, so two publishes
    with the same id must never be in flight on one channel at once: they are serialised here."""

    def __init__(self, channel: AbstractChannel, timeout: float) -> None:
        self.channel, self._timeout = channel, timeout
        self._inflight: dict[str, asyncio.Event] = {}

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        attempt: int = 1,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Publish persistent and mandatory with ``attempt`` (and ``headers``) in its headers and
        wait for the confirm; raises :class:`PublishError`."""
        while (busy := self._inflight.get(message_id)) is not None:
            await busy.wait()
        done = self._inflight[message_id] = asyncio.Event()
        message = aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            content_type=CONTENT_TYPE,
            headers={**(headers or {}), ATTEMPT_HEADER: attempt},
        )
        try:
            target = (
                self.channel.default_exchange
                if not exchange
                else await self.channel.get_exchange(exchange, ensure=False)
            )
            await target.publish(message, routing_key, mandatory=True, timeout=self._timeout)
        except ERRORS as exc:
            raise translate_publish_error(exc, queue=routing_key, message_id=message_id) from exc
        except asyncio.CancelledError as exc:
            # aiormq fails pending confirms with CancelledError when it gives up on a connection
            # that missed its heartbeats; only a cancellation of this task itself is one.
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            raise translate_publish_error(exc, queue=routing_key, message_id=message_id) from exc
        finally:
            del self._inflight[message_id]
            done.set()
