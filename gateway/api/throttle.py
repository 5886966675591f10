"""Who may use how much of the API at once, and how often.

* **Concurrency**: at most ``http.max_concurrent_requests`` requests in flight overall and
  ``http.max_concurrent_per_client`` per client (the subject of a valid bearer token, else the
  client's address); beyond that **503** ``service-busy`` with ``Retry-After``.
* **Token requests**: ``POST /token`` (and the dashboard's ``POST /admin/login``) at most
  ``http.token_requests_per_minute`` per address (each one costs a deliberately slow secret
  hash); beyond that **429** ``too-many-requests``.
* **Dry runs**: at most ``limits.max_dry_runs_per_client`` in progress per client
  (:class:`ClientSlots`); beyond that **429** ``too-many-requests``.
* **Failed authentications**: every 401 costs its address a token of a bucket of
  ``http.failed_auth_per_minute``; while it is empty, requests from that address that carry
  credentials get **429** before any secret is checked.
* **Guessing ids**: every 404 costs its client (as for concurrency) a token of a bucket of
  ``http.not_found_per_minute``; while it is empty, the client's requests get **429**, each
  logged as ``enumeration_suspected``.

The buckets refill continuously and are kept for the most recent addresses only, so the memory
they take is bounded however many addresses a client uses.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import problem, title
from gateway.api.tokens import TokenIssuer
from gateway.config.settings import HttpSettings
from gateway.errors import AuthenticationError, TooManyRequestsError

log = structlog.get_logger()

#: Addresses whose buckets are remembered (least recently used are forgotten first).
MAX_TRACKED = 10_000
#: The paths a secret is posted to (its hash checked): limited per address like ``/token``.
CREDENTIAL_PATHS = frozenset({"/token", "/admin/login"})


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class Buckets:
    """Token buckets by key: ``per_minute`` tokens, refilled evenly, a whole minute's burst."""

    per_minute: int
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.per_minute), now)
        bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.updated) * self.per_minute / 60)
        bucket.updated = now
        self._buckets[key] = bucket
        while len(self._buckets) > MAX_TRACKED:
            self._buckets.popitem(last=False)
        return bucket

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token again (0: it has one now)."""
        bucket = self._refilled(key, now)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) * 60 / self.per_minute

    def take(self, key: str, now: float) -> float:
        """Take a token if there is one; else the seconds until there is."""
        waiting = self.wait(key, now)
        if not waiting:
            self._buckets[key].tokens -= 1
        return waiting


@dataclass
class ClientSlots:
    """How many requests of one kind each client has in progress (e.g. dry runs)."""

    _held: Counter[str] = field(default_factory=Counter)

    def held(self, client_id: str) -> int:
        return self._held[client_id]

    @contextmanager
    def hold(self, client_id: str, limit: int) -> Iterator[None]:
        """One slot for ``client_id``; ``TooManyRequestsError`` (429) when it holds ``limit``."""
        if self._held[client_id] >= limit:
            raise TooManyRequestsError(f"at most {limit} of these at once per client")
        self._held[client_id] += 1
        try:
            yield
        finally:
            self._held[client_id] -= 1
            if not self._held[client_id]:
                del self._held[client_id]


class Throttle:
    """ASGI middleware applying the limits above to every HTTP request."""

    def __init__(self, app: ASGIApp, limits: HttpSettings, tokens: Callable[[], TokenIssuer | None]) -> None:
        self.app = app
        self.limits = limits
        self.tokens = tokens
        self.token_requests = Buckets(limits.token_requests_per_minute)
        self.failed_auth = Buckets(limits.failed_auth_per_minute)
        self.not_found = Buckets(limits.not_found_per_minute)
        self.in_flight = 0
        self.per_client: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "-"
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        is_token_request = scope["path"] in CREDENTIAL_PATHS and scope["method"] == "POST"
        now = time.monotonic()
        if is_token_request or authorization:
            wait = self.failed_auth.wait(address, now)
            if not wait and is_token_request:
                wait = self.token_requests.take(address, now)
            if wait:
                await self._refuse(scope, receive, send, 429, "too-many-requests", wait, address)
                return
        client = self._client_of(authorization) or f"address:{address}"
        wait = self.not_found.wait(client, now)
        if wait:
            log.warning("enumeration_suspected", client=client, address=address, path=scope["path"])
            await self._refuse(scope, receive, send, 429, "too-many-requests", wait, address)
            return
        if (
            self.in_flight >= self.limits.max_concurrent_requests
            or self.per_client[client] >= self.limits.max_concurrent_per_client
        ):
            await self._refuse(scope, receive, send, 503, "service-busy", 1.0, address)
            return
        self.in_flight += 1
        self.per_client[client] += 1

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.failed_auth.take(address, time.monotonic())
            elif message["type"] == "http.response.start" and message["status"] == 404:
                self.not_found.take(client, time.monotonic())
            await send(message)

        try:
            await self.app(scope, receive, watching)
        finally:
            self.in_flight -= 1
            self.per_client[client] -= 1
            if not self.per_client[client]:
                del self.per_client[client]

    def _client_of(self, authorization: str) -> str | None:
        scheme, _, credentials = authorization.partition(" ")
        tokens = self.tokens()
        if scheme.lower() != "bearer" or tokens is None:
            return None
        try:
            return "client:" + tokens.client_id(credentials.strip())
        except AuthenticationError:
            return None

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, slug: str, wait: float, address: str
    ) -> None:
        log.info("request_throttled", status=status, slug=slug, address=address, path=scope["path"])
        detail = "too many requests from this address" if status == 429 else "too many requests in progress"
        response = problem(status, slug, title(slug), f"{detail}; retry later")
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        await response(scope, receive, send)
