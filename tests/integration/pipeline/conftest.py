"""A whole gateway with its stages running (in-process broker or RabbitMQ), per test."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.broker import Topology
from gateway.config.settings import Settings
from tests.conftest import ACTIVE, LEIKA, OTHER, SECRET, XBAU
from tests.integration.delivery.conftest import AMQP_URL, delete_topology, require_rabbitmq
from tests.unit.adapters.vendor_server import VendorServer

HTTP_LEIKA = "urn:de:fim:leika:leistung:99066006002000"
VENDOR_SECRET = "vendor-secret-0123456789"
#: The service's name in the configuration; senders write their own free text ("Baugenehmigung").
CONFIGURED_NAME = "Baugenehmigung beantragen (Bauaufsicht)"


def service(identifier: str, adapter: dict[str, Any]) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "name": CONFIGURED_NAME,
        "regions": ["064350014014"],
        "submission_schemas": [{"schema_uri": XBAU, "mime_type": "application/xml"}],
        "adapter": adapter,
    }


class PipelineGateway:
    """Starts the gateway with a hot folder (LEIKA) and a vendor endpoint (HTTP_LEIKA) on ACTIVE,
    and with ``other_adapter`` also the destination OTHER offering LEIKA."""

    def __init__(self, tmp_path: Path, base: dict[str, Any], stack: AsyncExitStack) -> None:
        self.tmp_path, self.base, self.stack = tmp_path, base, stack
        self.namespace = base["delivery"]["namespace"]

    async def start(
        self,
        *,
        leika_adapter: dict[str, Any] | None = None,
        http_retry: dict[str, Any] | None = None,
        other_adapter: dict[str, Any] | None = None,
        **delivery: Any,
    ) -> tuple[httpx.AsyncClient, Path, VendorServer]:
        (self.tmp_path / "spool").mkdir()
        vendor = VendorServer(self.tmp_path / "spool", secret=VENDOR_SECRET).start()
        self.stack.callback(vendor.stop)
        hot_folder = self.tmp_path / "hot"
        hot_folder.mkdir()
        folder = leika_adapter or {"name": "filesystem", "options": {"directory": str(hot_folder)}}
        http: dict[str, Any] = {"name": "http", "options": {"url": vendor.url, "secret": VENDOR_SECRET}}
        if http_retry is not None:
            http["retry"] = http_retry
        destinations = [{"id": ACTIVE, "services": [service(LEIKA, folder), service(HTTP_LEIKA, http)]}]
        if other_adapter is not None:
            destinations.append({"id": OTHER, "services": [service(LEIKA, other_adapter)]})
        settings = Settings.load(
            None,
            **self.base,
            tenants=[{"id": "musterstadt", "destinations": destinations}],
        )
        settings = settings.model_copy(update={"delivery": settings.delivery.model_copy(update=delivery)})
        app = create_app(settings)
        await self.stack.enter_async_context(app.router.lifespan_context(app))
        client = await self.stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")
        )
        client.app = app  # type: ignore[attr-defined]
        return client, hot_folder, vendor


@pytest.fixture(params=["memory", pytest.param("amqp", marks=pytest.mark.rabbitmq)])
async def pipeline(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    key_template: Path,
    secret_hashes: dict[str, str],
    database_url: str,
) -> AsyncIterator[PipelineGateway]:
    broker_url = None
    if request.param == "amqp":
        await require_rabbitmq()
        broker_url = AMQP_URL
    key_dir = tmp_path / "keys"
    shutil.copytree(key_template, key_dir)
    namespace = f"p{uuid.uuid4().hex[:12]}"
    base = {
        "base_url": "http://gateway.test",
        "data_dir": tmp_path / "data",
        "key_dir": key_dir,
        "database_url": database_url,
        "amqp_url": broker_url,
        "delivery": {"namespace": namespace, "retry_delays_ms": [100, 200], "relay_poll_seconds": 0.2},
        "clients": [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}],
        "callbacks": {"require_https": False, "allow_private_networks": True},
    }
    async with AsyncExitStack() as stack:
        gateway = PipelineGateway(tmp_path, base, stack)
        try:
            yield gateway
        finally:
            await stack.aclose()
            if broker_url:
                await delete_topology(Topology(namespace=namespace), (ACTIVE, OTHER))
