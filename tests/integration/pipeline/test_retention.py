"""Retention end to end: after deliveries, a rejection and the grace period, the blob store holds
only what is still in flight, and every event log is still there."""

from __future__ import annotations

import httpx

from tests.conftest import ACTIVE, LEIKA, XBAU
from tests.eventually import eventually
from tests.helpers import (
    bearer,
    create,
    encrypt,
    encryption_key,
    gateway_of,
    metadata_for,
    new_id,
    token,
    upload,
)
from tests.integration.pipeline.conftest import PipelineGateway
from tests.integration.pipeline.test_pipeline import SAMPLE, final_log, send

EVENTS = "https://schema.fitko.de/fit-connect/events/"


async def _rejected(api: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    """A submission whose data does not match the hash in its metadata."""
    key = await encryption_key(api, auth, ACTIVE)
    ref: dict[str, str] = (await create(api, auth, ACTIVE)).json()
    metadata = metadata_for(SAMPLE.read_bytes(), {}, XBAU)
    body = {
        "encryptedMetadata": encrypt(key, metadata, cty="application/json"),
        "encryptedData": encrypt(key, SAMPLE.read_bytes() + b"<!-- changed -->"),
    }
    assert (
        await api.put(f"/v1/submissions/{ref['submissionId']}", json=body, headers=auth)
    ).status_code == 200
    return ref


async def test_blob_count_returns_to_the_in_flight_level_after_deliveries_and_the_grace_period(
    pipeline: PipelineGateway,
) -> None:
    pipeline.base["retention"] = {"final_grace_seconds": 1, "sweep_interval_seconds": 0.2}
    api, _, _ = await pipeline.start()
    auth = bearer(await token(api))
    blobs = gateway_of(api).blobs
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    in_flight = (await create(api, auth, ACTIVE, [aid])).json()["submissionId"]  # never submitted
    await upload(api, auth, in_flight, aid, encrypt(key, b"%PDF-1.4"))
    level = blobs.count()

    refs = [(await send(api, auth, LEIKA))[0] for _ in range(6)] + [await _rejected(api, auth)]
    peak = blobs.count()
    outcomes = [next(iter((await final_log(api, auth, ref["caseId"]))[-1]["events"])) for ref in refs]

    assert outcomes == [EVENTS + "accept-submission"] * 6 + [EVENTS + "reject-submission"]
    assert level == 1 and peak > level
    await eventually(lambda: blobs.count() == level, within=20, what=f"the blob count back at {level}")
    for ref in refs:  # the event log outlives the content
        logged = (await api.get(f"/v1/cases/{ref['caseId']}/events", headers=auth)).json()["eventLog"]
        assert len(logged) == 3
