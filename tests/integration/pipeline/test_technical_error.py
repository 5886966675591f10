"""A submission the validator fails on for its whole retry budget ends in `technical-error`."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.app import create_app
from gateway.store.models import Submission
from tests.conftest import ACTIVE, LEIKA, SECRET, make_settings
from tests.eventually import eventually
from tests.helpers import bearer, token
from tests.integration.pipeline.conftest import service
from tests.integration.pipeline.test_pipeline import final_log, send

REJECT = "https://schema.fitko.de/fit-connect/events/reject-submission"


async def test_a_lost_blob_ends_in_a_signed_technical_error(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str], database_url: str
) -> None:
    tenants = [
        {
            "id": "musterstadt",
            "destinations": [{"id": ACTIVE, "services": [service(LEIKA, {"name": "demo-ok"})]}],
        }
    ]
    clients = [{"id": "portal", "secret_hash": secret_hashes[SECRET], "regions": ["06435"]}]
    settings = make_settings(tmp_path, key_template, database_url, tenants, clients)
    first = create_app(settings)  # stages off: submit, then the disk loses the metadata blob
    async with first.router.lifespan_context(first):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=first), base_url="http://gateway.test"
        ) as api:
            ref, _ = await send(api, bearer(await token(api)), LEIKA)
        async with first.state.gateway.sessions() as session:
            row = await session.get(Submission, ref["submissionId"])
        first.state.gateway.blobs.delete(row.metadata_blob)

    delivery = settings.delivery.model_copy(update={"max_attempts": 3, "retry_delays_ms": [50, 100]})
    second = create_app(settings.model_copy(update={"run_stages": True, "delivery": delivery}))
    async with (
        second.router.lifespan_context(second),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://gateway.test") as api,
    ):
        auth = bearer(await token(api))

        async def rejected() -> bool:
            async with second.state.gateway.sessions() as session:
                row = await session.get(Submission, ref["submissionId"])
                return row is not None and row.status == "rejected"

        await eventually(rejected, within=10, what="the submission rejected")
        claims = await final_log(api, auth, ref["caseId"])
    problems = claims[-1]["events"][REJECT]["problems"]
    assert [(p["type"].rsplit("/", 1)[1], p["instance"]) for p in problems] == [
        ("technical-error", "submission")
    ]
