"""One real sample of every standard in the catalogue travels the whole pipeline to `accept`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from tests.conftest import ACTIVE, LEIKA, SECRET, make_settings
from tests.helpers import bearer, create, encrypt, encryption_key, metadata_for, token
from tests.integration.pipeline.test_pipeline import final_log
from tests.integration.validator.conftest import URI_BY_SET
from tests.unit.validation.test_corpus import INVALID

CORPUS = Path(__file__).parents[2] / "data" / "corpus"
EVENTS = "https://schema.fitko.de/fit-connect/events/"


def first_valid_sample(standard: str) -> Path:
    return next(
        p for p in sorted((CORPUS / standard).rglob("*.xml")) if str(p.relative_to(CORPUS)) not in INVALID
    )


@pytest.mark.parametrize("standard", sorted(URI_BY_SET))
async def test_a_sample_of_each_standard_ends_in_accept_submission(
    standard: str, tmp_path: Path, key_template: Path, secret_hashes: dict[str, str]
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"  # the standards differ in schemas only
    uri = URI_BY_SET[standard]
    offered = [{"schema_uri": u, "mime_type": "application/xml"} for u in sorted(set(URI_BY_SET.values()))]
    service: dict[str, Any] = {
        "identifier": LEIKA,
        "regions": ["064350014014"],
        "submission_schemas": offered,
        "adapter": {"name": "demo-ok"},
    }
    tenants = [{"id": "musterstadt", "destinations": [{"id": ACTIVE, "services": [service]}]}]
    clients = [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}]
    settings = make_settings(tmp_path, key_template, database_url, tenants, clients)
    app = create_app(settings.model_copy(update={"run_stages": True}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as api,
    ):
        auth = bearer(await token(api))
        key = await encryption_key(api, auth, ACTIVE)
        data = first_valid_sample(standard).read_bytes()
        ref = (await create(api, auth, ACTIVE)).json()
        body = {
            "encryptedMetadata": encrypt(key, metadata_for(data, {}, uri), cty="application/json"),
            "encryptedData": encrypt(key, data),
        }
        assert (
            await api.put(f"/v1/submissions/{ref['submissionId']}", json=body, headers=auth)
        ).status_code == 200
        claims = await final_log(api, auth, ref["caseId"])
    assert [next(iter(c["events"])).removeprefix(EVENTS) for c in claims][-1] == "accept-submission", (
        json.dumps(claims[-1]["events"])[:500]
    )
