"""The http adapter against a vendor endpoint on 127.0.0.1: contract, signing, outcome mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.http_endpoint import HttpAdapter
from gateway.adapters import (
    Adapter,
    AttachmentView,
    ConfigError,
    PermanentDeliveryError,
    Receipt,
    Submission,
    TransientDeliveryError,
)
from gateway.adapters.fake_vendor import Answer, FakeVendor, parse_multipart, received_files
from gateway.adapters.testing import AdapterContractTests, StreamProbe, make_submission, running, sample_bytes
from tests.unit.adapters.conftest import SECRET, http_adapter


class _HttpContract(AdapterContractTests):
    mode = "multipart"

    @pytest.fixture
    def adapter(self, vendor: FakeVendor) -> HttpAdapter:
        return http_adapter(vendor, mode=self.mode)

    @pytest.fixture(autouse=True)
    def _vendor(self, vendor: FakeVendor) -> None:
        self.vendor = vendor

    async def count_effects(self, adapter: Adapter[Any], submission: Submission) -> int:
        assert all(r.signature_ok for r in self.vendor.posts())
        return self.vendor.effects[submission.submission_id]

    async def delivered_files(self, adapter: Adapter[Any], submission: Submission) -> Mapping[str, bytes]:
        record = next(
            r for r in self.vendor.posts() if r.headers["Idempotency-Key"] == submission.submission_id
        )
        return received_files(record)


class TestHttpMultipartContract(_HttpContract):
    mode = "multipart"


class TestHttpJsonContract(_HttpContract):
    mode = "json"


async def test_multipart_request_is_signed_like_a_fit_connect_callback(vendor: FakeVendor) -> None:
    submission = make_submission()
    async with running(http_adapter(vendor)) as adapter:
        receipt = await adapter.deliver(submission)
    assert receipt == Receipt(reference="DMS-00001", detail="HTTP 201")
    (record,) = vendor.posts()
    body = record.body()
    timestamp = record.headers["callback-timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha512).hexdigest()
    assert record.headers["callback-authentication"] == expected
    assert record.headers["Idempotency-Key"] == submission.submission_id
    assert record.headers["Content-Length"] == str(len(body))
    assert "Transfer-Encoding" not in record.headers
    parts = parse_multipart(record.headers["Content-Type"], body)
    assert [h["content-disposition"] for h, _ in parts] == [
        'form-data; name="envelope"',
        'form-data; name="data"; filename="data.xml"',
        'form-data; name="attachments"; filename="lageplan.pdf"',
    ]
    envelope = json.loads(parts[0][1])
    assert envelope["submissionId"] == submission.submission_id
    assert envelope["schemaUri"] == submission.schema_uri
    assert envelope["metadata"] == submission.metadata
    assert envelope["attachments"][0]["filename"] == "lageplan.pdf"
    assert parts[1] == (
        {
            "content-disposition": 'form-data; name="data"; filename="data.xml"',
            "content-type": "application/xml",
        },
        submission.data,
    )
    assert parts[2][1] == sample_bytes("lageplan.pdf")


async def test_json_body_carries_data_as_text_and_attachments_as_base64(vendor: FakeVendor) -> None:
    submission = make_submission()
    async with running(http_adapter(vendor, mode="json")) as adapter:
        await adapter.deliver(submission)
    (record,) = vendor.posts()
    document = json.loads(record.body())
    assert document["dataEncoding"] == "utf-8" and document["data"].encode() == submission.data
    assert document["caseId"] == submission.case_id
    assert document["service"]["identifier"] == submission.service.identifier
    assert document["authenticationTags"]["data"] == submission.authentication_tags.data


async def test_json_body_base64_encodes_data_that_is_not_utf8(vendor: FakeVendor) -> None:
    submission = make_submission(data=b"\xff\xfe<x/>")
    async with running(http_adapter(vendor, mode="json")) as adapter:
        await adapter.deliver(submission)
    assert received_files(vendor.posts()[0])["data"] == b"\xff\xfe<x/>"


async def test_without_secret_nothing_is_signed(vendor: FakeVendor) -> None:
    vendor.secret = None
    async with running(HttpAdapter.from_config({"url": vendor.url})) as adapter:
        await adapter.deliver(make_submission())
    assert "callback-authentication" not in vendor.posts()[0].headers


async def test_wrong_secret_is_a_permanent_failure(vendor: FakeVendor) -> None:
    async with running(http_adapter(vendor, secret="not-the-secret")) as adapter:
        with pytest.raises(PermanentDeliveryError, match="HTTP 401") as caught:
            await adapter.deliver(make_submission())
    assert caught.value.code == "401"


async def test_extra_headers_are_sent(vendor: FakeVendor) -> None:
    async with running(http_adapter(vendor, headers={"X-Api-Key": "k-123"})) as adapter:
        await adapter.deliver(make_submission())
    assert vendor.posts()[0].headers["X-Api-Key"] == "k-123"


async def test_attachment_larger_than_max_body_bytes_is_rejected_before_sending(vendor: FakeVendor) -> None:
    probe = StreamProbe(1024 * 1024)
    async with running(http_adapter(vendor, max_body_bytes=100_000)) as adapter:
        with pytest.raises(PermanentDeliveryError, match="exceeds max_body_bytes"):
            await adapter.deliver(make_submission(attachments=[probe.attachment()]))
    assert vendor.posts() == []


async def test_check_sends_a_signed_options_request(vendor: FakeVendor) -> None:
    async with running(http_adapter(vendor)) as adapter:
        await adapter.check()
    assert [(r.method, r.signature_ok) for r in vendor.requests] == [("OPTIONS", True)]


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, ConfigError, "refused the credentials"),
        (404, ConfigError, r"options\.url: the endpoint does not exist"),
        (503, TransientDeliveryError, "HTTP 503"),
    ],
)
async def test_check_reports_what_is_wrong(
    vendor: FakeVendor, status: int, error: type[Exception], message: str
) -> None:
    vendor.options_answer = Answer(status)
    async with running(http_adapter(vendor)) as adapter:
        with pytest.raises(error, match=message):
            await adapter.check()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "not a url"}, r"^options\.url: Input should be a valid URL"),
        ({"url": "http://dms.example.org/in"}, r"http:// is only allowed for loopback"),
        (
            {"url": "https://dms.example.org/in", "mode": "xml"},
            r"^options\.mode: Input should be 'multipart' or 'json'",
        ),
        ({"url": "https://dms.example.org/in", "timeout_seconds": 0}, r"^options\.timeout_seconds: "),
        (
            {"url": "https://dms.example.org/in", "client_cert": "/nonexistent.pem"},
            r"^options\.client_cert: Path",
        ),
        (
            {"url": "https://dms.example.org/in", "headers": {"Idempotency-Key": "x"}},
            r"^options\.headers: .*not allowed",
        ),
        ({"url": "https://dms.example.org/in", "headers": {"X-A": "a\r\nb"}}, r"control character"),
        (
            {"url": "https://dms.example.org/in", "verify": False},
            r"^options\.verify: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HttpAdapter.from_config(options)


def test_unloadable_client_certificate_is_a_config_error(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"^options\.client_cert: cannot load"):
        HttpAdapter.from_config({"url": "https://dms.example.org/in", "client_cert": str(cert)})


def test_secret_and_header_values_do_not_leak_into_repr() -> None:
    adapter = HttpAdapter.from_config(
        {"url": "https://dms.example.org/in", "secret": "hunter2", "headers": {"X-Api-Key": "k-123"}}
    )
    assert "hunter2" not in repr(adapter.options) and "k-123" not in repr(adapter.options)


async def test_failing_attachment_store_propagates_and_nothing_is_accepted(vendor: FakeVendor) -> None:
    opened = []

    async def flaky() -> AsyncIterator[bytes]:
        opened.append(True)
        yield b"%PDF-1.4"
        if len(opened) == 2:  # the sending pass, after length and signature were computed
            raise RuntimeError("blob store failed")

    attachment = AttachmentView(
        attachment_id="a1",
        filename="x.pdf",
        mime_type="application/pdf",
        purpose="attachment",
        sha512="0" * 128,
        opener=flaky,
    )
    async with running(http_adapter(vendor)) as adapter:
        with pytest.raises(RuntimeError, match="blob store failed"):
            await adapter.deliver(make_submission(attachments=[attachment]))
    assert sum(vendor.effects.values()) == 0
