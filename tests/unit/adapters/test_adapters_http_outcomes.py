"""How the http adapter maps the vendor's answers and network failures to delivery outcomes."""

from __future__ import annotations

import dataclasses
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from adapters.http_endpoint import HttpAdapter
from gateway.adapters import PermanentDeliveryError, TransientDeliveryError, http_outcome, parse_retry_after
from gateway.adapters.fake_vendor import Answer, FakeVendor
from gateway.adapters.testing import make_submission, running
from gateway.errors import GatewayError
from tests.unit.adapters.conftest import http_adapter

IN_A_MINUTE = "<an HTTP-date one minute from now>"


@pytest.mark.parametrize(
    ("answer", "expected", "retry"),
    [
        (
            Answer(200, {"Content-Type": "application/json"}, b'{"reference": "AZ-2025-17"}'),
            "AZ-2025-17",
            None,
        ),
        (Answer(202, {"Location": "/records/88"}), "/records/88", None),
        (Answer(204), None, None),
        (Answer(301, {"Location": "https://elsewhere.example/"}), PermanentDeliveryError, None),
        (Answer(400, body=b'{"error":"schema"}'), PermanentDeliveryError, None),
        (Answer(404), PermanentDeliveryError, None),
        (Answer(409), TransientDeliveryError, None),
        (Answer(413), PermanentDeliveryError, None),
        (Answer(422), PermanentDeliveryError, None),
        (Answer(408), TransientDeliveryError, None),
        (Answer(429, {"Retry-After": "120"}), TransientDeliveryError, 120.0),
        (Answer(500), TransientDeliveryError, None),
        (Answer(502), TransientDeliveryError, None),
        (Answer(503, {"Retry-After": IN_A_MINUTE}), TransientDeliveryError, 60.0),
    ],
    ids=lambda v: str(v.status) if isinstance(v, Answer) else None,
)
async def test_answer_maps_to_an_outcome(
    vendor: FakeVendor, answer: Answer, expected: Any, retry: float | None
) -> None:
    if answer.headers.get("Retry-After") == IN_A_MINUTE:
        date = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
        answer = dataclasses.replace(answer, headers={"Retry-After": date})
    vendor.script(answer)
    async with running(http_adapter(vendor)) as adapter:
        if isinstance(expected, type):
            with pytest.raises(expected) as caught:
                await adapter.deliver(make_submission())
            assert isinstance(caught.value, GatewayError)
            assert f"HTTP {answer.status}" in caught.value.detail
            if retry is not None:
                assert isinstance(caught.value, TransientDeliveryError)
                assert caught.value.retry_after == pytest.approx(retry, abs=2)
        else:
            assert (await adapter.deliver(make_submission())).reference == expected


async def test_transient_answer_then_success_delivers_once(vendor: FakeVendor) -> None:
    vendor.script(Answer(503))
    submission = make_submission()
    async with running(http_adapter(vendor)) as adapter:
        with pytest.raises(TransientDeliveryError):
            await adapter.deliver(submission)
        receipt = await adapter.deliver(submission)
    assert receipt.reference == "DMS-00001"
    assert vendor.effects[submission.submission_id] == 1
    assert [r.status for r in vendor.posts()] == [503, 201]


async def test_timeout_is_transient(vendor: FakeVendor) -> None:
    vendor.script(Answer(200, delay=3))
    async with running(http_adapter(vendor, timeout_seconds=0.3)) as adapter:
        with pytest.raises(TransientDeliveryError, match="timeout") as caught:
            await adapter.deliver(make_submission())
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


async def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = HttpAdapter.from_config({"url": f"http://127.0.0.1:{port}/in"})
    async with running(adapter):
        with pytest.raises(TransientDeliveryError, match="cannot reach"):
            await adapter.deliver(make_submission())
        with pytest.raises(TransientDeliveryError):
            await adapter.check()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, None), ("", None), ("30", 30.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_parses_seconds_and_dates(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_outcome_prefers_the_json_reference_over_location() -> None:
    headers = httpx.Headers({"Content-Type": "application/json", "Location": "/x"})
    assert http_outcome(201, headers, b'{"reference": 42}').reference == "42"
    assert http_outcome(201, headers, b"[1]").reference == "/x"
