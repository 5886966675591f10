"""Delivery to a vendor's REST endpoint: one signed, idempotent POST per submission.

Request: ``POST <url>`` with the body of :mod:`adapters._http_body` (``multipart`` or ``json``),
``Idempotency-Key: <submission id>`` (the vendor deduplicates on it), and — with a ``secret`` —
``callback-timestamp`` / ``callback-authentication`` signed like FIT-Connect callbacks.

Outcome (:mod:`adapters._http_outcome`): 2xx → :class:`Receipt`; 408, 409, 425, 429, 5xx,
timeouts and connection errors → :class:`TransientDeliveryError` honouring ``Retry-After``; every
other status → :class:`PermanentDeliveryError`. Redirects are not followed (they are permanent).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import ssl
import time
from typing import Literal, Self

import httpx
import structlog
from pydantic import Field, FilePath, HttpUrl, SecretStr, field_validator, model_validator

from adapters._http_body import json_body, measure, multipart_body, sign
from adapters._http_outcome import outcome, read_capped, translate_transport_errors
from gateway.adapters import (
    Adapter,
    AdapterOptions,
    ConfigError,
    PermanentDeliveryError,
    Receipt,
    Submission,
    TransientDeliveryError,
)

log = structlog.get_logger(__name__)

RESERVED_HEADERS = frozenset(
    {
        "idempotency-key",
        "callback-timestamp",
        "callback-authentication",
        "content-type",
        "content-length",
        "transfer-encoding",
        "host",
    }
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class HttpOptions(AdapterOptions):
    """Where to POST, how to encode, and how to authenticate."""

    url: HttpUrl = Field(description="endpoint that receives one POST per submission")
    mode: Literal["multipart", "json"] = Field(
        default="multipart",
        description="multipart/form-data parts, or one JSON document with base64 contents",
    )
    secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA512 key for the callback-authentication header (FIT-Connect scheme)",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600, description="timeout per network operation")
    client_cert: FilePath | None = Field(default=None, description="PEM client certificate for mutual TLS")
    client_key: FilePath | None = Field(
        default=None, description="PEM key of client_cert (if not in that file)"
    )
    ca_bundle: FilePath | None = Field(
        default=None, description="PEM CA certificates to trust instead of the system's"
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="extra request headers (e.g. an API key)"
    )
    proxy: HttpUrl | None = Field(
        default=None, description="HTTP proxy; environment proxy settings are ignored"
    )
    allow_plain_http: bool = Field(default=False, description="allow http:// to a host other than loopback")
    max_body_bytes: int | None = Field(default=None, gt=0, description="reject larger bodies before sending")

    @field_validator("headers")
    @classmethod
    def _headers_are_valid(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, value in headers.items():
            if not _TOKEN.match(name) or name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is not allowed")
            if any(c in value.get_secret_value() for c in "\r\n\0"):
                raise ValueError(f"header {name!r} has a control character in its value")
        return headers

    @model_validator(mode="after")
    def _plain_http_only_locally(self) -> Self:
        if self.url.scheme == "http" and not self.allow_plain_http and not _is_loopback(self.url.host or ""):
            raise ValueError(
                "url: http:// is only allowed for loopback hosts unless allow_plain_http is true"
            )
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key: needs client_cert")
        return self


class HttpAdapter(Adapter[HttpOptions]):
    """POSTs each submission to a vendor REST endpoint, signed and with an Idempotency-Key.

    Attachments are streamed (multipart parts, or base64 inside JSON); 5xx/408/429/timeouts are
    retried, other 4xx park the submission.
    """

    def __init__(self, options: HttpOptions) -> None:
        """Raises :class:`ConfigError` if the TLS files cannot be loaded."""
        super().__init__(options)
        self._verify = _ssl_context(options)
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the connection pool."""
        self._http()

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def check(self) -> None:
        """``OPTIONS <url>``: raises :class:`ConfigError` for 401/403/404, :class:`TransientDeliveryError`
        when unreachable or answering 5xx."""
        headers = self._signature_headers(b"")
        with translate_transport_errors(str(self.options.url)):
            response = await self._http().request("OPTIONS", str(self.options.url), headers=headers)
        if response.status_code in (401, 403):
            raise ConfigError(
                f"the endpoint refused the credentials (HTTP {response.status_code})", path="options"
            )
        if response.status_code == 404:
            raise ConfigError("the endpoint does not exist (HTTP 404)", path="options.url")
        if response.status_code >= 500:
            raise TransientDeliveryError(f"the endpoint answers HTTP {response.status_code}")

    async def deliver(self, submission: Submission) -> Receipt:
        """POST the submission; see the module docstring for how the answer maps to an outcome."""
        if self.options.mode == "json":
            body, content_type = json_body(submission), "application/json"
        else:
            boundary = f"xgw-{secrets.token_hex(16)}"
            body, content_type = (
                multipart_body(submission, boundary),
                f"multipart/form-data; boundary={boundary}",
            )
        timestamp = str(int(time.time()))
        secret = self.options.secret.get_secret_value().encode() if self.options.secret else None
        length, signature = await measure(body, secret, timestamp)
        if self.options.max_body_bytes is not None and length > self.options.max_body_bytes:
            raise PermanentDeliveryError(f"request body of {length} bytes exceeds max_body_bytes")
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(length),
            "Idempotency-Key": submission.submission_id,
            "User-Agent": "xoev-gateway",
        }
        if signature is not None:
            headers |= {"callback-timestamp": timestamp, "callback-authentication": signature}
        client = self._http()
        started = time.monotonic()
        with translate_transport_errors(str(self.options.url)):
            request = client.build_request("POST", str(self.options.url), content=body(), headers=headers)
            response = await client.send(request, stream=True)
            try:
                content = await read_capped(response)
            finally:
                await response.aclose()
        log.info(
            "http_delivery_answered",
            submission_id=submission.submission_id,
            status=response.status_code,
            bytes=length,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return outcome(response.status_code, response.headers, content)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            extra = {name: value.get_secret_value() for name, value in self.options.headers.items()}
            self._client = httpx.AsyncClient(
                verify=self._verify,
                timeout=httpx.Timeout(self.options.timeout_seconds),
                follow_redirects=False,
                trust_env=False,
                headers=extra,
                proxy=str(self.options.proxy) if self.options.proxy else None,
            )
        return self._client

    def _signature_headers(self, body: bytes) -> dict[str, str]:
        if self.options.secret is None:
            return {}
        timestamp = str(int(time.time()))
        return {
            "callback-timestamp": timestamp,
            "callback-authentication": sign(self.options.secret.get_secret_value().encode(), timestamp, body),
        }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _ssl_context(options: HttpOptions) -> ssl.SSLContext | bool:
    if options.client_cert is None and options.ca_bundle is None:
        return True
    try:
        context = ssl.create_default_context(cafile=str(options.ca_bundle) if options.ca_bundle else None)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot load CA bundle: {exc}", path="options.ca_bundle") from exc
    if options.client_cert is not None:
        try:
            context.load_cert_chain(options.client_cert, options.client_key)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"cannot load client certificate/key: {exc}", path="options.client_cert"
            ) from exc
    return context
