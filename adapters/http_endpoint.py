"""Delivery to a vendor's REST endpoint: one signed, idempotent POST per submission.

Request and outcome are those of :func:`gateway.adapters.send_delivery`: ``Idempotency-Key:
<submission id>``, with a ``secret`` the FIT-Connect callback signature, and the status policy of
:func:`gateway.adapters.http_outcome` (2xx → receipt; 408, 409, 425, 429, 5xx, timeouts →
retried, honouring ``Retry-After``; any other status → parked). Redirects are not followed.

The body streams attachments; nothing larger than one chunk is held in memory.

``multipart`` (``multipart/form-data``), parts in this order:

* ``envelope``: ``application/json``, the :func:`envelope` (ids, service, schema, metadata, tags,
  and ``attachments``: one entry per attachment part, in part order, with its ``filename``);
* ``data``: the XÖV data, ``filename="data.xml"`` (or ``data.json``), its media type;
* ``attachments``: one part per attachment, ``filename`` from ``attachment_filenames()``.

``json`` (``application/json``): the envelope plus ``data`` (UTF-8 text, or base64 when
``dataEncoding`` is ``base64``) and, per attachment, ``content`` (base64). Fine for small
submissions; prefer ``multipart`` for large attachments (base64 grows them by a third).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
import ssl
from collections.abc import AsyncIterator
from typing import Any, Literal, Self

import httpx
from pydantic import Field, FilePath, HttpUrl, SecretStr, field_validator, model_validator

from gateway.adapters import (
    Adapter,
    AdapterOptions,
    BodyFactory,
    ConfigError,
    Receipt,
    Submission,
    attachment_filenames,
    check_endpoint,
    extension_for,
    send_delivery,
)

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
        """``OPTIONS <url>``: raises :class:`ConfigError` for 401/403/404, ``TransientDeliveryError``
        when unreachable or answering 5xx."""
        await check_endpoint(self._http(), str(self.options.url), secret=self._secret())

    async def deliver(self, submission: Submission) -> Receipt:
        """POST the submission; see the module docstring for how the answer maps to an outcome."""
        if self.options.mode == "json":
            body, content_type = json_body(submission), "application/json"
        else:
            boundary = f"xgw-{secrets.token_hex(16)}"
            body = multipart_body(submission, boundary)
            content_type = f"multipart/form-data; boundary={boundary}"
        return await send_delivery(
            self._http(),
            submission,
            str(self.options.url),
            content=body,
            content_type=content_type,
            secret=self._secret(),
            max_body_bytes=self.options.max_body_bytes,
        )

    def _secret(self) -> bytes | None:
        return self.options.secret.get_secret_value().encode() if self.options.secret else None

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


def envelope(submission: Submission, names: list[str]) -> dict[str, Any]:
    """Everything about the submission except the data and attachment contents."""
    tags = submission.authentication_tags
    return {
        **submission.describe(),
        "metadata": dict(submission.metadata),
        "authenticationTags": {
            "metadata": tags.metadata,
            "data": tags.data,
            "attachments": dict(tags.attachments),
        },
        "attachments": [
            {
                "attachmentId": a.attachment_id,
                "filename": name,
                "mimeType": a.mime_type,
                "purpose": a.purpose,
                "size": a.size,
                "sha512": a.sha512,
            }
            for a, name in zip(submission.attachments, names, strict=True)
        ],
    }


def json_body(submission: Submission) -> BodyFactory:
    """The ``json`` mode body: one JSON object, attachment contents streamed as base64."""
    head = envelope(submission, attachment_filenames(submission.attachments))
    attachments = head.pop("attachments")
    try:
        data, encoding = submission.data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        data, encoding = base64.b64encode(submission.data).decode("ascii"), "base64"
    head.update(dataEncoding=encoding, data=data)
    prefix = _dumps(head)[:-1] + b',"attachments":['

    async def body() -> AsyncIterator[bytes]:
        yield prefix
        for index, (attachment, entry) in enumerate(zip(submission.attachments, attachments, strict=True)):
            yield (b"," if index else b"") + _dumps(entry)[:-1] + b',"content":"'
            async for chunk in _base64(attachment.open()):
                yield chunk
            yield b'"}'
        yield b"]}"

    return body


def multipart_body(submission: Submission, boundary: str) -> BodyFactory:
    """The ``multipart`` mode body with ``boundary``; attachment parts streamed as they are."""
    names = attachment_filenames(submission.attachments)
    head = _dumps(envelope(submission, names))
    data_name = f"data{extension_for(submission.mime_type)}"
    delimiter = f"--{boundary}\r\n".encode()

    def part_header(field: str, content_type: str, filename: str | None = None) -> bytes:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
        return (
            delimiter + f"Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        )

    async def body() -> AsyncIterator[bytes]:
        yield part_header("envelope", "application/json") + head + b"\r\n"
        yield part_header("data", _header_safe(submission.mime_type), data_name) + submission.data + b"\r\n"
        for attachment, name in zip(submission.attachments, names, strict=True):
            yield part_header("attachments", _header_safe(attachment.mime_type), name)
            async for chunk in attachment.open():
                yield chunk
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    return body


async def _base64(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    carry = b""
    async for chunk in chunks:
        buffer = carry + chunk
        cut = len(buffer) - len(buffer) % 3
        if cut:
            yield base64.b64encode(buffer[:cut])
        carry = buffer[cut:]
    if carry:
        yield base64.b64encode(carry)


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _header_safe(value: str) -> str:
    """A media type fit for a part header (the sender chose it): printable ASCII or a fallback."""
    return value if value.isascii() and value.isprintable() and value else "application/octet-stream"


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
