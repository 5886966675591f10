"""A gateway on a real uvicorn socket for the catalogue's cases that need raw HTTP bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.config.settings import HttpSettings, Settings
from tests.conftest import SECRET, make_settings, tenants
from tests.helpers import served

#: Short deadlines so that a lying Content-Length is cut within a second or two.
LIMITS = {"header_timeout_seconds": 1.0, "min_body_bytes_per_second": 2000, "body_rate_window_seconds": 1.0}


@dataclass
class LiveGateway:
    """``client`` talks to the socket and carries ``client.app``, so ``tests.helpers`` work on it."""

    port: int
    settings: Settings
    client: httpx.AsyncClient

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
async def live(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str]
) -> AsyncIterator[LiveGateway]:
    settings = make_settings(
        tmp_path,
        key_template,
        f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        tenants(),
        [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}],
    ).model_copy(update={"http": HttpSettings.model_validate(LIMITS)})
    app = create_app(settings)
    async with (
        served(app, settings) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield LiveGateway(port, settings, client)
