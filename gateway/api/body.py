"""Reading request bodies with a size cap, a media-type check and strict JSON."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from gateway.errors import (
    InvalidRequestError,
    PayloadTooLargeError,
    PermanentError,
    UnsupportedMediaTypeError,
)
from gateway.validation.json_strict import parse_json_strict


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_media_type(request: Request, *expected: str) -> None:
    if media_type(request) not in expected:
        raise UnsupportedMediaTypeError(f"Content-Type must be {' or '.join(expected)}")


def declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequestError("invalid Content-Length", slug="request-invalid")
    return int(raw)


async def read_capped(request: Request, cap: int) -> bytes:
    """The whole body, refusing more than ``cap`` bytes (checked before and while reading)."""
    length = declared_length(request)
    if length is not None and length > cap:
        raise PayloadTooLargeError(f"body larger than {cap} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise PayloadTooLargeError(f"body larger than {cap} bytes")
    return bytes(body)


async def read_json_object(request: Request, cap: int) -> dict[str, Any]:
    """A JSON object body: no duplicate keys, no NaN, bounded depth and size."""
    require_media_type(request, "application/json")
    raw = await read_capped(request, cap)
    try:
        value = parse_json_strict(raw)
    except PermanentError as exc:
        raise InvalidRequestError(
            f"body is not acceptable JSON: {exc.detail}", slug="request-body-invalid"
        ) from exc
    if not isinstance(value, dict):
        raise InvalidRequestError("body must be a JSON object", slug="request-body-invalid")
    return value
