"""Fixtures for the adapter tests: a registry with the built-ins and a vendor endpoint on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.demo import DemoCrashAdapter, DemoOkAdapter, DemoRejectAdapter
from adapters.filesystem import FilesystemAdapter
from adapters.http_endpoint import HttpAdapter
from gateway.adapters import Adapter
from gateway.adapters.fake_vendor import FakeVendor
from gateway.adapters.host import AdapterRegistry

SECRET = "vendor-shared-secret-0123456789abcdef"

#: The entry points pyproject.toml declares for the built-in adapters (name → target).
ENTRY_POINTS = {
    "filesystem": "adapters.filesystem:FilesystemAdapter",
    "http": "adapters.http_endpoint:HttpAdapter",
    "demo-ok": "adapters.demo:DemoOkAdapter",
    "demo-reject": "adapters.demo:DemoRejectAdapter",
    "demo-crash": "adapters.demo:DemoCrashAdapter",
}

BUILT_INS: dict[str, type[Adapter[Any]]] = {
    "filesystem": FilesystemAdapter,
    "http": HttpAdapter,
    "demo-ok": DemoOkAdapter,
    "demo-reject": DemoRejectAdapter,
    "demo-crash": DemoCrashAdapter,
}


@pytest.fixture
def registry() -> AdapterRegistry:
    registry = AdapterRegistry()
    for name, adapter_class in BUILT_INS.items():
        registry.register(name, adapter_class)
    return registry


@pytest.fixture
def vendor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeVendor]:
    server = FakeVendor(tmp_path_factory.mktemp("vendor-spool"), secret=SECRET).start()
    yield server
    server.stop()


def http_adapter(vendor: FakeVendor, **options: Any) -> HttpAdapter:
    return HttpAdapter.from_config({"url": vendor.url, "secret": SECRET, "timeout_seconds": 5, **options})
