"""Before anything starts: does RabbitMQ answer at the configured URL? One line if not."""

from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import urlsplit

import aio_pika
import aiormq.exceptions

#: How long a check waits for an answer.
CONNECT_SECONDS = 10.0


def describe(url: str) -> str:
    """``host:port/vhost`` of an AMQP URL, without user or password."""
    parts = urlsplit(url)
    default = 5671 if parts.scheme == "amqps" else 5672
    vhost = parts.path[1:] or "/"
    return f"{parts.hostname or 'localhost'}:{parts.port or default} (vhost {vhost})"


def _explain(url: str, exc: BaseException) -> str:
    where = describe(url)
    if isinstance(exc, aiormq.exceptions.ProbableAuthenticationError):
        return f"RabbitMQ at {where} refused the login: check user and password in amqp_url"
    if isinstance(exc, aiormq.exceptions.InvalidFrameError):
        return f"RabbitMQ at {where} refused the connection: does the vhost exist and may the user use it?"
    cause = exc.__cause__ or exc
    if isinstance(cause, socket.gaierror):
        return f"unknown RabbitMQ host in amqp_url ({where}): check amqp_url"
    if isinstance(cause, TimeoutError):
        return f"no answer from RabbitMQ at {where} within the timeout: check host, port and firewall"
    if isinstance(cause, OSError):
        return f"cannot reach RabbitMQ at {where} ({cause.strerror or cause}): is it running there?"
    return f"RabbitMQ at {where}: {type(exc).__name__}: {exc}"


async def broker_problem(url: str) -> str | None:
    """Connect and disconnect; the reason in one line if that fails."""
    aiormq_log = logging.getLogger("aiormq.connection")  # would log the failure a second time
    level = aiormq_log.level
    aiormq_log.setLevel(logging.CRITICAL)
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            connection = await aio_pika.connect(url, timeout=CONNECT_SECONDS)
            await connection.close()
    except Exception as exc:
        return _explain(url, exc)
    finally:
        aiormq_log.setLevel(level)
    return None
