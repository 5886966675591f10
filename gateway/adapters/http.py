"""Delivering over HTTP: one idempotent request per submission, its answer as a delivery outcome.

:func:`send_delivery` sends the request with ``Idempotency-Key: <submission id>`` (the vendor
deduplicates on it) and, given a ``secret``, the FIT-Connect callback signature
(``callback-timestamp``, ``callback-authentication = hex(HMAC-SHA512(secret, "<timestamp>.<body>"))``),
so a vendor verifies it with the code it has for FIT-Connect callbacks. :func:`http_outcome` is
the status policy, the one place where an answer becomes an outcome:

==============================  ==================================================================
2xx                             :class:`Receipt`; ``reference`` from a JSON ``reference`` field,
                                else the ``Location`` header
408, 409, 425, 429, 5xx         :class:`TransientDeliveryError`; ``retry_after`` from
                                ``Retry-After`` (seconds or HTTP-date, :func:`parse_retry_after`)
any other (3xx included)        :class:`PermanentDeliveryError`; ``code`` is the status
timeout, connection error       :class:`TransientDeliveryError`, raised ``from`` the httpx error
==============================  ==================================================================

409 counts as transient because an endpoint that deduplicates on the Idempotency-Key answers it
while it still processes the first request with that key. Redirects are not followed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from gateway.adapters.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.adapters.submission import Receipt, Submission
from gateway.errors import ConfigError

#: A callable that starts the request body from its first byte each time it is called.
BodyFactory = Callable[[], AsyncIterator[bytes]]

IDEMPOTENCY_HEADER = "Idempotency-Key"
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
MAX_ANSWER_BYTES = 64 * 1024

log = structlog.get_logger(__name__)


async def send_delivery(
    client: httpx.AsyncClient,
    submission: Submission,
    url: str,
    *,
    content: bytes | BodyFactory,
    content_type: str,
    headers: Mapping[str, str] | None = None,
    secret: bytes | None = None,
    timeout_seconds: float | None = None,
    max_body_bytes: int | None = None,
) -> Receipt:
    """POST ``content`` for ``submission`` to ``url`` and return the receipt of a 2xx answer.

    ``content`` is the body, or a :data:`BodyFactory` that streams it (started twice when a
    ``secret`` signs it: once to sign, once to send). ``headers`` are added to the request; the
    content, idempotency and signature headers are always the ones set here. ``timeout_seconds``
    (seconds per network operation) overrides the client's. Raises
    :class:`TransientDeliveryError` or :class:`PermanentDeliveryError` as :func:`http_outcome`
    says, :class:`PermanentDeliveryError` for a body over ``max_body_bytes``.
    """
    body = content if callable(content) else _once(content)
    timestamp = str(int(time.time()))
    if callable(content) or secret is not None:
        length, signature = await _measure(body, secret, timestamp)
    else:
        length, signature = len(content), None
    if max_body_bytes is not None and length > max_body_bytes:
        raise PermanentDeliveryError(
            f"request body of {length} bytes exceeds max_body_bytes ({max_body_bytes})"
        )
    fixed = {
        "Content-Type": content_type,
        "Content-Length": str(length),
        IDEMPOTENCY_HEADER: submission.idempotency_key,
    }
    if signature is not None:
        fixed |= {"callback-timestamp": timestamp, "callback-authentication": signature}
    request_headers = httpx.Headers({"User-Agent": "xoev-gateway", **(headers or {})})
    request_headers.update(fixed)
    extensions = {} if timeout_seconds is None else {"timeout": httpx.Timeout(timeout_seconds).as_dict()}
    started = time.monotonic()
    with _transport_errors(url):
        request = client.build_request(
            "POST", url, content=body(), headers=request_headers, extensions=extensions
        )
        response = await client.send(request, stream=True)
        try:
            answer = await _read_capped(response)
        finally:
            await response.aclose()
    log.info(
        "http_delivery_answered",
        submission_id=submission.submission_id,
        status=response.status_code,
        bytes=length,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )
    return http_outcome(response.status_code, response.headers, answer)


async def check_endpoint(client: httpx.AsyncClient, url: str, *, secret: bytes | None = None) -> None:
    """``OPTIONS url`` (signed with ``secret`` over an empty body) as an adapter's ``check()``.

    Raises :class:`ConfigError` for 401/403 (credentials) and 404 (``options.url``),
    :class:`TransientDeliveryError` when unreachable, timing out or answering 5xx.
    """
    headers = {}
    if secret is not None:
        timestamp = str(int(time.time()))
        _, signature = await _measure(_once(b""), secret, timestamp)
        headers = {"callback-timestamp": timestamp, "callback-authentication": str(signature)}
    with _transport_errors(url):
        response = await client.request("OPTIONS", url, headers=headers)
    status = response.status_code
    if status in (401, 403):
        raise ConfigError(f"the endpoint refused the credentials (HTTP {status})", path="options")
    if status == 404:
        raise ConfigError("the endpoint does not exist (HTTP 404)", path="options.url")
    if status >= 500:
        raise TransientDeliveryError(f"the endpoint answers HTTP {status}")


def http_outcome(status: int, headers: Mapping[str, str], content: bytes) -> Receipt:
    """The receipt of a 2xx answer; raises the delivery error any other status means (see above).

    For adapters that use another HTTP client: pass the status, headers and (the start of) the
    answer's body.
    """
    headers = httpx.Headers(headers)
    if 200 <= status < 300:
        return Receipt(reference=_reference(headers, content), detail=f"HTTP {status}")
    detail = f"HTTP {status} from the endpoint" + (f": {_excerpt(content)}" if content else "")
    if status in TRANSIENT_STATUS or status >= 500:
        raise TransientDeliveryError(detail, retry_after=parse_retry_after(headers.get("retry-after")))
    raise PermanentDeliveryError(detail, code=str(status))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date (a date in the
    past is 0); ``None`` if ``value`` is absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@contextlib.contextmanager
def _transport_errors(url: str) -> Iterator[None]:
    """The one place where httpx's exceptions become delivery errors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"timeout talking to {url}: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc


def _once(content: bytes) -> BodyFactory:
    async def body() -> AsyncIterator[bytes]:
        yield content

    return body


async def _measure(body: BodyFactory, secret: bytes | None, timestamp: str) -> tuple[int, str | None]:
    """Length of the body and, with a ``secret``, its signature (one pass over the stream)."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b".", hashlib.sha512) if secret is not None else None
    length = 0
    async for chunk in body():
        length += len(chunk)
        if mac is not None:
            mac.update(chunk)
    return length, mac.hexdigest() if mac is not None else None


def _reference(headers: httpx.Headers, content: bytes) -> str | None:
    if "json" in headers.get("content-type", ""):
        with contextlib.suppress(ValueError):
            document: Any = json.loads(content)
            if isinstance(document, dict) and isinstance(document.get("reference"), str | int):
                return str(document["reference"])
    location = headers.get("location")
    return str(location) if location else None


async def _read_capped(response: httpx.Response) -> bytes:
    content = b""
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) >= MAX_ANSWER_BYTES:
            break
    return content[:MAX_ANSWER_BYTES]


def _excerpt(content: bytes) -> str:
    return " ".join(content[:200].decode("utf-8", "replace").split())
