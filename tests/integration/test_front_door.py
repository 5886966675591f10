"""The HTTP front door on a real socket: header limits answer 431 at once, a slow head or a slow
upload is cut with 408 within its deadline while other clients are served, nothing is left behind."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.config.settings import HttpSettings, Settings
from tests.conftest import ACTIVE, SECRET, make_settings, tenants
from tests.eventually import eventually
from tests.helpers import new_id, served

LIMITS = {
    "max_header_bytes": 4096,
    "max_headers": 20,
    "header_timeout_seconds": 1.0,
    "min_body_bytes_per_second": 2000,
    "body_rate_window_seconds": 1.0,
}


@dataclass
class Live:
    port: int
    settings: Settings
    logs: list[MutableMapping[str, Any]]

    def refusals(self) -> list[int]:
        """Statuses of the connections the front door refused so far."""
        return [e["status"] for e in self.logs if e["event"] == "http_refused"]

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
async def live(tmp_path: Path, key_template: Path, secret_hashes: dict[str, str]) -> AsyncIterator[Live]:
    settings = make_settings(
        tmp_path,
        key_template,
        f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        tenants(),
        [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}],
    ).model_copy(update={"http": HttpSettings.model_validate(LIMITS)})
    async with served(create_app(settings), settings) as port:
        with capture_logs() as logs:
            yield Live(port, settings, logs)


async def _until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, within: float) -> bytes:
    """What the server sent before closing (within ``within`` s); b"" if it reset the connection,
    as a server does that closes with the client's bytes unread."""
    try:
        return await asyncio.wait_for(reader.read(), within)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, within: float
) -> tuple[int, dict[str, object]]:
    """Status and problem body of the answer, which must come within ``within`` seconds and close."""
    raw = await _until_closed(reader, writer, within)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


async def test_oversized_headers_get_431_at_once(live: Live) -> None:
    reader, writer = await live.open()
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
    status, problem = await _answer(reader, writer, within=2)
    assert status == 431 and problem["type"] == "urn:xoev-gateway:problem:request-header-fields-too-large"


async def test_unfinished_huge_header_is_cut_before_it_ends(live: Live) -> None:
    reader, writer = await live.open()
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        while sent < 1024 * 1024:  # 1 MiB of one header value, never finished
            writer.write(b"a" * 16384)
            await writer.drain()
            sent += 16384
            await asyncio.sleep(0.01)
    except ConnectionError:
        pass
    raw = await _until_closed(reader, writer, within=2)
    assert raw.startswith(b"HTTP/1.1 431") or raw == b""  # answered, or reset with our bytes unread
    assert live.refusals() == [431]
    assert sent < 256 * 1024  # cut long before the header ended


async def test_too_many_headers_and_a_64k_authorization_get_431(live: Live) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(21))
    for head in (many, b"Authorization: Bearer " + b"x" * 65536 + b"\r\n"):
        reader, writer = await live.open()
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n")
        status, _ = await _answer(reader, writer, within=2)
        assert status == 431


async def test_headers_within_limits_are_served(live: Live) -> None:
    headers = {f"X-H{i}": "v" * 100 for i in range(15)}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}") as client:
        assert (await client.get("/health", headers=headers)).status_code == 200


async def test_slow_head_is_cut_with_408_while_others_are_served(live: Live) -> None:
    trickling = []
    for _ in range(20):
        reader, writer = await live.open()
        writer.write(b"GET /health HTTP/1.1\r\nHo")
        trickling.append((reader, writer))
    idle = await live.open()  # connects and never sends a byte
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}") as client:
        assert (await client.get("/health")).status_code == 200  # served meanwhile
    for reader, writer in trickling:
        status, problem = await _answer(reader, writer, within=3)
        assert status == 408 and problem["type"] == "urn:xoev-gateway:problem:request-timeout"
    assert (await _answer(*idle, within=3))[0] == 408
    assert time.monotonic() - started < 3


async def test_slow_upload_is_cut_and_leaves_no_partial_blob(live: Live) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}") as client:
        token = (
            await client.post(
                "/token",
                data={"grant_type": "client_credentials", "client_id": "portal", "client_secret": SECRET},
            )
        ).json()["access_token"]
        attachment = new_id()
        created = await client.post(
            "/v1/submissions",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "destinationId": ACTIVE,
                "serviceType": {"identifier": "urn:de:fim:leika:leistung:99066006001000"},
                "announcedAttachments": [attachment],
            },
        )
        assert created.status_code == 201, created.text
        path = f"/v1/submissions/{created.json()['submissionId']}/attachments/{attachment}"
        reader, writer = await live.open()
        writer.write(
            f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/jose\r\nContent-Length: 100000\r\n\r\n".encode()
        )
        started = time.monotonic()
        cut = False
        while time.monotonic() - started < 5:  # 10 bytes per 0.1 s = 100 B/s, under 2000 B/s
            try:
                writer.write(b"eyJhbGciOi")
                await writer.drain()
            except ConnectionError:
                cut = True
                break
            if reader.at_eof():
                cut = True
                break
            await asyncio.sleep(0.1)
            assert (await client.get("/health")).status_code == 200
        raw = await _until_closed(reader, writer, within=2)
        assert cut or raw.startswith(b"HTTP/1.1 408")
        assert live.refusals() == [408]
        assert time.monotonic() - started < 3.5  # two windows of 1 s and some slack
    await eventually(lambda: not list(live.settings.blobs_path.rglob("*.part")), what="partial blob removed")
