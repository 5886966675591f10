"""A separately installed vendor package is found through its entry point and delivers.

Needs ``pip install -e examples/xgw-adapter-sample``. Skips with that reason when the package is
missing, but fails when ``CI=true``: CI installs it, so a missing entry point is a broken build.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gateway.adapters import ConfigError
from gateway.adapters.commands import list_adapters
from gateway.adapters.host import ENTRY_POINT_GROUP, AdapterRegistry
from gateway.adapters.testing import make_submission, running

IN_CI = os.environ.get("CI", "").lower() == "true"
NAME = "sample-dms"


@pytest.fixture
def registry() -> AdapterRegistry:
    registry = AdapterRegistry.discover()
    if NAME not in registry:
        reason = f"{NAME!r} not installed: pip install -e examples/xgw-adapter-sample"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the pipeline must install it)")
        pytest.skip(reason)
    return registry


def test_the_entry_point_comes_from_the_sample_distribution(registry: AdapterRegistry) -> None:
    ep = next(ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == NAME)
    assert ep.value == "xgw_adapter_sample:SampleDmsAdapter"
    assert ep.dist is not None and ep.dist.name == "xgw-adapter-sample"


async def test_discovered_adapter_checks_delivers_and_deduplicates(
    registry: AdapterRegistry, tmp_path: Path
) -> None:
    adapter = registry.create(NAME, {"database": str(tmp_path / "dms.sqlite")})
    submission = make_submission()
    async with running(adapter):
        await adapter.check()
        first = await adapter.deliver(submission)
        again = await adapter.deliver(submission)
    assert first == again and first.reference is not None and first.reference.startswith("AZ-")


def test_discovered_adapter_options_are_validated_with_their_key_path(registry: AdapterRegistry) -> None:
    with pytest.raises(ConfigError, match=r"^options\.databse: Extra inputs are not permitted"):
        registry.create(NAME, {"database": "/tmp/x.sqlite", "databse": "typo"})


def test_adapters_list_shows_the_vendor_adapter_with_its_options(registry: AdapterRegistry) -> None:
    text = list_adapters(registry)
    assert f"{NAME}  (xgw_adapter_sample:SampleDmsAdapter)" in text
    assert "database  string (path)  required  SQLite file of the DMS" in text
