"""Sender callbacks: FIT-Connect's signed "new events" notification (PROTOCOL.md §7).

When a stage writes an event to a case's log, ``gateway.events.log.record_event`` adds, in the
same transaction, an outbox row for the ``callbacks`` queue if the submission has a callback URL.
The callbacks stage consumes that queue and calls :meth:`CallbackSender.send`, which POSTs::

    {"type": "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-events",
     "submissions": [{"destinationId": …, "submissionId": …, "caseId": …}]}

with ``callback-timestamp`` (UNIX seconds) and ``callback-authentication`` (hex HMAC-SHA512
with the callback secret over ``"<timestamp>.<raw body>"``). A callback only says "look at the
event log"; its failure never changes the submission. :class:`CallbackResult` says whether to
retry (the broker layer does the delays). :func:`verify_callback` is the receiving side's check.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.store.models import Submission

__all__ = [
    "NEW_EVENTS",
    "CallbackResult",
    "CallbackSender",
    "new_events_body",
    "sign_callback",
    "verify_callback",
]

log = structlog.get_logger()

NEW_EVENTS = "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-events"
REPLAY_WINDOW = 300


def new_events_body(submission: Submission) -> bytes:
    """The exact bytes POSTed (and signed) for new events of one submission."""
    reference = {
        "destinationId": submission.destination_id,
        "submissionId": submission.id,
        "caseId": submission.case_id,
    }
    return json.dumps({"type": NEW_EVENTS, "submissions": [reference]}, separators=(",", ":")).encode()


def sign_callback(secret: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA512 over ``"<timestamp>.<body>"`` (the ``callback-authentication`` header)."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha512).hexdigest()


def verify_callback(
    secret: str, timestamp: str, body: bytes, mac: str, now: float, window: int = REPLAY_WINDOW
) -> bool:
    """A receiver's check: timestamp within ``window`` seconds of ``now`` (either side), MAC equal.

    ``body`` must be the raw bytes as received; the comparison is constant-time.
    """
    if not timestamp.isdigit() or len(timestamp) > 12 or abs(now - int(timestamp)) > window:
        return False
    expected = sign_callback(secret, timestamp, body)
    return hmac.compare_digest(expected, mac.strip().lower())


@dataclass(frozen=True)
class CallbackResult:
    """What happened: ``delivered`` (2xx), ``skipped`` (nothing to send), ``retry`` (timeout,
    connection error, 408/429/5xx) or ``failed`` (refused URL, other answer: do not retry)."""

    outcome: Literal["delivered", "skipped", "retry", "failed"]
    detail: str = ""
    status_code: int | None = None

    @property
    def should_retry(self) -> bool:
        return self.outcome == "retry"


_RETRY_STATUS = {408, 425, 429}


async def _refused_address(host: str, port: int) -> str | None:
    """Why the host may not be called (private, loopback, link-local…), or ``None``."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None  # let the request fail (and retry) as a connection error
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # drop an IPv6 scope id
        if not address.is_global:
            return f"callback host resolves to a non-public address ({address})"
    return None


class CallbackSender:
    """POSTs signed new-events callbacks with ``httpx`` (timeouts, no redirects).

    ``require_https`` and ``allow_private_networks`` guard against plain HTTP and requests to
    internal addresses (SSRF); tests and local demos relax them.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        require_https: bool = True,
        allow_private_networks: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False
        )
        self._require_https = require_https
        self._allow_private = allow_private_networks
        self._clock = clock

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _refused(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            return "callback URL is not an http(s) URL"
        if parts.scheme != "https" and self._require_https:
            return "callback URL must use https"
        if not self._allow_private:
            return await _refused_address(
                parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
            )
        return None

    async def send(self, submission_id: str) -> CallbackResult:
        """Notify the sender of new events of one submission; never raises for HTTP trouble."""
        async with self._sessions() as session:
            submission = await session.get(Submission, submission_id)
        if submission is None or not submission.callback_url or not submission.callback_secret:
            return CallbackResult("skipped", "no callback configured")
        url, secret = submission.callback_url, submission.callback_secret
        refused = await self._refused(url)
        if refused is not None:
            log.warning("callback_refused", submission_id=submission_id, reason=refused)
            return CallbackResult("failed", refused)
        body = new_events_body(submission)
        timestamp = str(int(self._clock()))
        headers = {
            "content-type": "application/json",
            "callback-timestamp": timestamp,
            "callback-authentication": sign_callback(secret, timestamp, body),
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("callback_unreachable", submission_id=submission_id, error=type(exc).__name__)
            return CallbackResult("retry", f"{type(exc).__name__}: {exc}"[:300])
        status = response.status_code
        if 200 <= status < 300:
            log.info("callback_delivered", submission_id=submission_id, status=status)
            return CallbackResult("delivered", status_code=status)
        outcome: Literal["retry", "failed"] = (
            "retry" if status >= 500 or status in _RETRY_STATUS else "failed"
        )
        log.info("callback_answered", submission_id=submission_id, status=status, outcome=outcome)
        return CallbackResult(outcome, f"HTTP {status}", status)
