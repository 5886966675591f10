"""The public HTTP building blocks: idempotent, signed requests, timeouts, the status policy."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from gateway.adapters import (
    ConfigError,
    PermanentDeliveryError,
    TransientDeliveryError,
    check_endpoint,
    http_outcome,
    parse_retry_after,
    send_delivery,
)
from gateway.adapters.testing import make_submission

URL = "https://dms.example/api/submissions"


def client_answering(*answers: httpx.Response, seen: list[httpx.Request] | None = None) -> httpx.AsyncClient:
    queue = list(answers)

    async def handle(request: httpx.Request) -> httpx.Response:
        await request.aread()
        if seen is not None:
            seen.append(request)
        return queue.pop(0)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_request_carries_the_submission_id_as_idempotency_key_and_caller_headers() -> None:
    seen: list[httpx.Request] = []
    submission = make_submission()
    async with client_answering(httpx.Response(201, json={"reference": "AZ-1"}), seen=seen) as client:
        receipt = await send_delivery(
            client,
            submission,
            URL,
            content=b'{"id": 1}',
            content_type="application/json",
            headers={"X-Api-Key": "k", "Idempotency-Key": "forged"},
        )
    assert receipt.reference == "AZ-1"
    (request,) = seen
    assert request.headers["Idempotency-Key"] == submission.submission_id
    assert request.headers["X-Api-Key"] == "k"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Length"] == "9" and request.content == b'{"id": 1}'
    assert "callback-authentication" not in request.headers


async def test_streamed_body_is_signed_like_a_fit_connect_callback() -> None:
    seen: list[httpx.Request] = []

    async def body() -> AsyncIterator[bytes]:
        yield b"part one, "
        yield b"part two"

    async with client_answering(httpx.Response(204), seen=seen) as client:
        await send_delivery(
            client, make_submission(), URL, content=body, content_type="text/plain", secret=b"s3cret"
        )
    (request,) = seen
    timestamp = request.headers["callback-timestamp"]
    expected = hmac.new(b"s3cret", f"{timestamp}.part one, part two".encode(), hashlib.sha512).hexdigest()
    assert request.headers["callback-authentication"] == expected
    assert request.headers["Content-Length"] == str(len(b"part one, part two"))


async def test_timeout_seconds_overrides_the_client_and_a_timeout_is_transient() -> None:
    timeouts: list[object] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), timeout=60) as client:
        with pytest.raises(TransientDeliveryError, match="timeout talking to") as caught:
            await send_delivery(
                client, make_submission(), URL, content=b"x", content_type="text/plain", timeout_seconds=2.5
            )
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
    assert timeouts == [{"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}]


async def test_a_body_over_the_limit_is_refused_before_sending() -> None:
    seen: list[httpx.Request] = []
    async with client_answering(seen=seen) as client:
        with pytest.raises(PermanentDeliveryError, match="exceeds max_body_bytes"):
            await send_delivery(
                client,
                make_submission(),
                URL,
                content=b"x" * 11,
                content_type="text/plain",
                max_body_bytes=10,
            )
    assert seen == []


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 599])
def test_statuses_that_may_heal_are_transient_with_retry_after(status: int) -> None:
    with pytest.raises(TransientDeliveryError) as caught:
        http_outcome(status, {"Retry-After": "7"}, b"busy")
    assert caught.value.retry_after == 7.0
    assert caught.value.detail == f"HTTP {status} from the endpoint: busy"


@pytest.mark.parametrize("status", [301, 302, 400, 401, 403, 404, 410, 413, 415, 422])
def test_other_statuses_are_permanent_with_the_status_as_code(status: int) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        http_outcome(status, {}, b"")
    assert caught.value.code == str(status)


def test_outcome_reads_headers_case_insensitively_from_a_plain_mapping() -> None:
    assert http_outcome(201, {"location": "/records/9"}, b"").reference == "/records/9"


def test_retry_after_http_date_is_measured_from_now() -> None:
    now = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 14 Mar 2025 09:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("  120 ", now=now) == 120.0
    assert parse_retry_after("-5", now=now) is None


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, ConfigError, r"^options: the endpoint refused the credentials \(HTTP 401\)"),
        (403, ConfigError, r"^options: the endpoint refused"),
        (404, ConfigError, r"^options\.url: the endpoint does not exist"),
        (503, TransientDeliveryError, "answers HTTP 503"),
    ],
)
async def test_check_endpoint_names_what_the_operator_must_fix(
    status: int, error: type[Exception], message: str
) -> None:
    async with client_answering(httpx.Response(status)) as client:
        with pytest.raises(error, match=message):
            await check_endpoint(client, URL)


async def test_check_endpoint_passes_for_a_signed_options_request() -> None:
    seen: list[httpx.Request] = []
    async with client_answering(httpx.Response(204), seen=seen) as client:
        await check_endpoint(client, URL, secret=b"k")
    (request,) = seen
    assert request.method == "OPTIONS"
    timestamp = request.headers["callback-timestamp"]
    expected = hmac.new(b"k", f"{timestamp}.".encode(), hashlib.sha512).hexdigest()
    assert request.headers["callback-authentication"] == expected
