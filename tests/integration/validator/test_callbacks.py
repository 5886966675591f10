"""Sender callbacks: a reject posts FIT-Connect's signed new-events body to the sender's URL; the
receiver verifies the HMAC; failures are typed (retry or not) and never touch the submission."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gateway.stages.callbacks.sender import NEW_EVENTS, CallbackSender, sign_callback, verify_callback
from gateway.stages.validate import Validator
from tests.conftest import ACTIVE, XBAU
from tests.helpers import counts
from tests.integration.validator.support import send, status

SECRET = "callback-secret-for-tests-0123456789abcdef"


class Receiver:
    """An HTTP server on 127.0.0.1 (free port) that records POSTs and answers ``reply``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.reply = 202
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.reply)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callbacks/fit-connect"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
async def local_sender(vapi: httpx.AsyncClient) -> Any:
    sender = CallbackSender(
        vapi.app.state.gateway.sessions,  # type: ignore[attr-defined]
        timeout=2.0,
        require_https=False,
        allow_private_networks=True,
    )
    yield sender
    await sender.aclose()


async def test_a_rejection_is_called_back_with_a_verifiable_hmac(
    vapi: httpx.AsyncClient,
    auth: dict[str, str],
    key: dict[str, Any],
    validator: Validator,
    receiver: Receiver,
    local_sender: CallbackSender,
) -> None:
    ref = await send(vapi, auth, key, b"<broken", XBAU, callback={"url": receiver.url, "secret": SECRET})
    await validator.process(ref["submissionId"])
    before = await counts(vapi)
    result = await local_sender.send(ref["submissionId"])
    assert result.outcome == "delivered" and result.status_code == 202 and not result.should_retry
    [(headers, body)] = receiver.requests
    assert headers["content-type"] == "application/json"
    assert verify_callback(
        SECRET, headers["callback-timestamp"], body, headers["callback-authentication"], now=time.time()
    )
    assert len(headers["callback-authentication"]) == 128
    assert json.loads(body) == {
        "type": NEW_EVENTS,
        "submissions": [
            {"destinationId": ACTIVE, "submissionId": ref["submissionId"], "caseId": ref["caseId"]}
        ],
    }
    assert await counts(vapi) == before and await status(vapi, ref["submissionId"]) == "rejected"


@pytest.mark.parametrize(
    ("reply", "outcome"), [(500, "retry"), (503, "retry"), (429, "retry"), (401, "failed"), (302, "failed")]
)
async def test_a_failing_receiver_gives_a_typed_result_and_changes_nothing(
    vapi: httpx.AsyncClient,
    auth: dict[str, str],
    key: dict[str, Any],
    validator: Validator,
    receiver: Receiver,
    local_sender: CallbackSender,
    reply: int,
    outcome: str,
) -> None:
    receiver.reply = reply
    ref = await send(vapi, auth, key, b"<broken", XBAU, callback={"url": receiver.url, "secret": SECRET})
    await validator.process(ref["submissionId"])
    before = await counts(vapi)
    result = await local_sender.send(ref["submissionId"])
    assert (result.outcome, result.status_code) == (outcome, reply)
    assert result.should_retry == (outcome == "retry")
    assert await counts(vapi) == before and await status(vapi, ref["submissionId"]) == "rejected"


async def test_unreachable_refused_and_unconfigured_callbacks(
    vapi: httpx.AsyncClient,
    auth: dict[str, str],
    key: dict[str, Any],
    receiver: Receiver,
    local_sender: CallbackSender,
) -> None:
    url = receiver.url
    receiver.close()  # nothing listens any more
    ref = await send(vapi, auth, key, b"<broken", XBAU, callback={"url": url, "secret": SECRET})
    result = await local_sender.send(ref["submissionId"])
    assert result.outcome == "retry" and result.should_retry
    strict = CallbackSender(vapi.app.state.gateway.sessions)  # type: ignore[attr-defined]
    try:
        assert (await strict.send(ref["submissionId"])).detail == "callback URL must use https"
        https = await send(
            vapi, auth, key, b"<x", XBAU, callback={"url": "https://127.0.0.1:9/cb", "secret": SECRET}
        )
        refused = await strict.send(https["submissionId"])
        assert refused.outcome == "failed" and "non-public address" in refused.detail
    finally:
        await strict.aclose()
    plain = await send(vapi, auth, key, b"<broken", XBAU)
    assert (await local_sender.send(plain["submissionId"])).outcome == "skipped"


def test_verify_callback_refuses_old_future_and_forged_messages() -> None:
    body = b'{"type":"x","submissions":[]}'
    now = 1_800_000_000
    mac = sign_callback(SECRET, now, body)
    assert verify_callback(SECRET, str(now), body, mac, now=now + 299)
    assert verify_callback(SECRET, str(now), body, mac.upper(), now=now)
    assert not verify_callback(SECRET, str(now), body, mac, now=now + 301)
    assert not verify_callback(SECRET, str(now), body, mac, now=now - 301)
    assert not verify_callback(SECRET, str(now), body + b"\n", mac, now=now)
    assert not verify_callback("another-secret", str(now), body, mac, now=now)
    assert not verify_callback(SECRET, str(now + 1), body, mac, now=now)
    assert not verify_callback(SECRET, "-1", body, mac, now=now)
    assert not verify_callback(SECRET, "1e9", body, mac, now=now)
