"""At start the workers run every binding's check(): a failing one is reported, not fatal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from gateway.adapters.host import CheckResult
from gateway.app import open_gateway
from tests.conftest import ACTIVE, LEIKA, OTHER, XBAU, make_settings


def destination(identifier: str, directory: Path) -> dict[str, Any]:
    adapter = {"name": "filesystem", "options": {"directory": str(directory)}}
    schemas = [{"schema_uri": XBAU, "mime_type": "application/xml"}]
    return {
        "id": identifier,
        "services": [{"identifier": LEIKA, "submission_schemas": schemas, "adapter": adapter}],
    }


async def test_missing_import_directory_is_logged_and_marked_unhealthy_without_stopping_the_others(
    tmp_path: Path, key_template: Path, database_url: str
) -> None:
    (tmp_path / "import").mkdir()
    tenants = [
        {
            "id": "musterstadt",
            "destinations": [
                destination(ACTIVE, tmp_path / "missing"),
                destination(OTHER, tmp_path / "import"),
            ],
        }
    ]
    settings = make_settings(tmp_path, key_template, database_url, tenants, [])
    with structlog.testing.capture_logs() as logs:
        async with open_gateway(settings, roles=frozenset({"workers"})) as gateway:
            health = gateway.adapter_health
            assert gateway.consumers, "the workers run"
    problem = "options.directory: is not an existing directory"
    assert health.results() == [
        CheckResult(ACTIVE, LEIKA, "filesystem", problem),
        CheckResult(OTHER, LEIKA, "filesystem"),
    ]
    assert not health.ready
    failed = [entry for entry in logs if entry["event"] == "adapter_check_failed"]
    assert failed == [
        {
            "event": "adapter_check_failed",
            "log_level": "error",
            "destination_id": ACTIVE,
            "service": LEIKA,
            "adapter": "filesystem",
            "problem": problem,
        }
    ]
