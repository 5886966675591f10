"""Lifecycle checks: one result per binding, a failing binding never stops the others."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapters.filesystem import FilesystemAdapter
from gateway.adapters import Adapter, NoOptions, Receipt, Submission, TransientDeliveryError
from gateway.adapters.commands import check_adapters, render_checks
from gateway.adapters.host import AdapterHealth, AdapterRegistry, BoundAdapter, CheckResult, check_bindings
from gateway.config.model import TenantConfig

LEIKA = "urn:de:fim:leika:leistung:99066006001000"
OTHER = "urn:de:fim:leika:leistung:99066006002000"


class _Checked(Adapter[NoOptions]):
    async def deliver(self, submission: Submission) -> Receipt:
        return Receipt()


class Healthy(_Checked):
    pass


class Unreachable(_Checked):
    async def check(self) -> None:
        raise TransientDeliveryError("the endpoint answers HTTP 503")


class Hanging(_Checked):
    async def check(self) -> None:
        await asyncio.sleep(60)


class Crashing(_Checked):
    async def check(self) -> None:
        raise KeyError("token")


class FailsToStart(_Checked):
    async def start(self) -> None:
        raise OSError("no such socket")


async def test_each_binding_gets_its_result_whatever_the_others_do() -> None:
    bound = [
        BoundAdapter("d1", LEIKA, "healthy", Healthy(NoOptions())),
        BoundAdapter("d1", OTHER, "unreachable", Unreachable(NoOptions())),
        BoundAdapter("d2", LEIKA, "hanging", Hanging(NoOptions())),
        BoundAdapter("d3", LEIKA, "crashing", Crashing(NoOptions())),
    ]
    results = await check_bindings(bound, timeout_seconds=0.2)
    assert results == [
        CheckResult("d1", LEIKA, "healthy"),
        CheckResult("d1", OTHER, "unreachable", "the endpoint answers HTTP 503"),
        CheckResult("d2", LEIKA, "hanging", "check() did not finish within 0.2 s"),
        CheckResult("d3", LEIKA, "crashing", "check() crashed: KeyError: 'token'"),
    ]
    assert [r.ok for r in results] == [True, False, False, False]


async def test_health_keeps_the_latest_result_per_binding(tmp_path: Path) -> None:
    health = AdapterHealth()
    missing = FilesystemAdapter.from_config({"directory": str(tmp_path / "missing")})
    await health.check([BoundAdapter("d1", LEIKA, "filesystem", missing)])
    assert not health.ready
    assert [r.problem for r in health.unhealthy()] == ["options.directory: is not an existing directory"]
    (tmp_path / "missing").mkdir()
    await health.check([BoundAdapter("d1", LEIKA, "filesystem", missing)])
    assert health.ready and health.results() == [CheckResult("d1", LEIKA, "filesystem")]


def tenant(tmp_path: Path, *bindings: tuple[str, str, dict[str, Any]]) -> TenantConfig:
    """One destination per binding: (destination id, adapter name, options)."""
    destinations = [
        {
            "id": dest,
            "services": [
                {
                    "identifier": LEIKA,
                    "submission_schemas": [{"schema_uri": "urn:x", "mime_type": "application/xml"}],
                    "adapter": {"name": name, "options": options},
                }
            ],
        }
        for dest, name, options in bindings
    ]
    return TenantConfig.model_validate({"id": "t", "destinations": destinations})


@pytest.fixture
def registry() -> AdapterRegistry:
    registry = AdapterRegistry()
    registry.register("filesystem", FilesystemAdapter)
    registry.register("healthy", Healthy)
    registry.register("fails-to-start", FailsToStart)
    return registry


async def test_adapters_check_reports_a_missing_import_directory(
    registry: AdapterRegistry, tmp_path: Path
) -> None:
    ok, missing, typo, unknown, broken = (str(uuid.uuid4()) for _ in range(5))
    (tmp_path / "in").mkdir()
    tenants = [
        tenant(
            tmp_path,
            (ok, "filesystem", {"directory": str(tmp_path / "in")}),
            (missing, "filesystem", {"directory": str(tmp_path / "import")}),
            (typo, "filesystem", {"directry": "/x"}),
            (unknown, "filesytem", {}),
            (broken, "fails-to-start", {}),
        )
    ]
    results = await check_adapters(registry, tenants)
    assert [(r.destination, r.adapter, r.problem) for r in results] == [
        (ok, "filesystem", None),
        (missing, "filesystem", "options.directory: is not an existing directory"),
        (
            typo,
            "filesystem",
            "options.directory: Field required; options.directry: Extra inputs are not permitted",
        ),
        (
            unknown,
            "filesytem",
            "unknown adapter 'filesytem'; did you mean 'filesystem'? "
            "(known: fails-to-start, filesystem, healthy)",
        ),
        (broken, "fails-to-start", "start() failed: OSError('no such socket')"),
    ]
    report = render_checks(results)
    assert (
        f"FAILED  {missing}  {LEIKA}  filesystem\n        options.directory: is not an existing directory"
        in report
    )
    assert f"ok      {ok}  {LEIKA}  filesystem" in report
    assert report.endswith("1 ok, 4 failed")


async def test_adapters_check_for_one_destination(registry: AdapterRegistry, tmp_path: Path) -> None:
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    tenants = [tenant(tmp_path, (one, "healthy", {}), (two, "healthy", {}))]
    results = await check_adapters(registry, tenants, destination=two.upper())
    assert results == [CheckResult(two, LEIKA, "healthy")]
    assert render_checks([]) == "no adapter bindings configured"
