"""How the vendor's answer (or its silence) becomes a delivery outcome: the one translation point.

2xx → :class:`Receipt` (``reference`` from a JSON ``reference`` field, else ``Location``); 408,
409 (the same Idempotency-Key is still being processed), 425, 429 and 5xx →
:class:`TransientDeliveryError` with ``Retry-After``; any other status (3xx included: redirects
are not followed) → :class:`PermanentDeliveryError` with the status as ``code``. Timeouts and
connection errors → :class:`TransientDeliveryError`, raised ``from`` the httpx exception.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from gateway.adapters import PermanentDeliveryError, Receipt, TransientDeliveryError

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
MAX_RESPONSE_BYTES = 64 * 1024


def outcome(status: int, headers: httpx.Headers, content: bytes) -> Receipt:
    """The receipt of a 2xx answer; raises the delivery error any other answer means."""
    if 200 <= status < 300:
        return Receipt(reference=_reference(headers, content), detail=f"HTTP {status}")
    detail = f"HTTP {status} from the endpoint" + (f": {_excerpt(content)}" if content else "")
    if status in TRANSIENT_STATUS or status >= 500:
        raise TransientDeliveryError(detail, retry_after=retry_after(headers.get("retry-after")))
    raise PermanentDeliveryError(detail, code=str(status))


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or invalid."""
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
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@contextlib.contextmanager
def translate_transport_errors(url: str) -> Iterator[None]:
    """The one place where httpx's exceptions become delivery errors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"timeout talking to {url}: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc


def _reference(headers: httpx.Headers, content: bytes) -> str | None:
    if "json" in headers.get("content-type", ""):
        with contextlib.suppress(ValueError):
            document: Any = json.loads(content)
            if isinstance(document, dict) and isinstance(document.get("reference"), str | int):
                return str(document["reference"])
    location = headers.get("location")
    return str(location) if location else None


async def read_capped(response: httpx.Response) -> bytes:
    content = b""
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) >= MAX_RESPONSE_BYTES:
            break
    return content[:MAX_RESPONSE_BYTES]


def _excerpt(content: bytes) -> str:
    return " ".join(content[:200].decode("utf-8", "replace").split())
