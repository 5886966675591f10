"""The sender's callback: after the accept event, a signed `new-events` POST reaches its URL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.stages.callbacks.sender import verify_callback
from tests.conftest import LEIKA
from tests.eventually import eventually
from tests.helpers import bearer, token
from tests.integration.pipeline.conftest import PipelineGateway
from tests.integration.pipeline.test_pipeline import send

CALLBACK_SECRET = "callback-secret-of-the-sender-0123456789"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fit-connect/callback", received
    server.shutdown()
    server.server_close()


async def test_sender_gets_a_signed_callback_for_the_accept_event(
    pipeline: PipelineGateway, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    api, _, _ = await pipeline.start()
    auth = bearer(await token(api))
    ref, _ = await send(api, auth, LEIKA, callback={"url": url, "secret": CALLBACK_SECRET})
    await eventually(lambda: received, within=10, what="a callback")
    headers, body = received[0]
    assert verify_callback(
        CALLBACK_SECRET,
        headers["callback-timestamp"],
        body,
        headers["callback-authentication"],
        now=time.time(),
    )
    document = json.loads(body)
    assert document["type"].endswith("/callbacks/new-events")
    assert {"destinationId", "submissionId", "caseId"} <= set(document["submissions"][0])
    assert document["submissions"][0]["submissionId"] == ref["submissionId"]


async def test_each_stage_commit_wakes_the_relay_so_the_callback_comes_long_before_the_poll(
    pipeline: PipelineGateway, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    """Three outbox rows in a row (intake → validate, validate → deliver, deliver → callback),
    each published because its commit woke the relay: at a 30 s poll, one missed wake alone
    would take longer than the whole wait."""
    url, received = receiver
    api, _, _ = await pipeline.start(relay_poll_seconds=30.0)
    auth = bearer(await token(api))
    await send(api, auth, LEIKA, callback={"url": url, "secret": CALLBACK_SECRET})
    await eventually(lambda: received, within=5, what="the accept callback")
