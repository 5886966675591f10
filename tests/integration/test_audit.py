"""The audit log over a submission's whole life, through the running gateway: create, upload,
submit, validate, deliver (or reject) and the retention's deletion each leave their entries, with
ids, ciphertext hashes and authentication tags, in one intact chain, and no plaintext."""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

import httpx
from sqlalchemy import text

from gateway.store import audit
from gateway.store.models import AuditEntry
from tests.conftest import ACTIVE, LEIKA, SECRET, XBAU
from tests.eventually import eventually
from tests.helpers import bearer, create, encrypt, encryption_key, gateway_of, metadata_for, token
from tests.integration.pipeline.conftest import PipelineGateway, pipeline  # noqa: F401
from tests.integration.pipeline.test_pipeline import SAMPLE, final_log, send

DELIVERED = [
    ("submission.created", "created", "portal"),
    ("event.written", "create-submission", "portal"),
    ("attachment.stored", None, "portal"),
    ("submission.submitted", "submitted", "portal"),
    ("event.written", "submit-submission", "portal"),
    ("submission.validated", "validated", "gateway"),
    ("delivery.attempt", "delivered", "gateway"),
    ("submission.delivered", "delivered", "gateway"),
    ("event.written", "accept-submission", "gateway"),
    ("content.deleted", "deleted", "gateway"),
]
REJECTED = [
    ("submission.created", "created", "portal"),
    ("event.written", "create-submission", "portal"),
    ("submission.submitted", "submitted", "portal"),
    ("event.written", "submit-submission", "portal"),
    ("submission.rejected", "rejected", "gateway"),
    ("event.written", "reject-submission", "gateway"),
    ("content.deleted", "deleted", "gateway"),
]


async def _rejected(api: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, str]:
    """A submission whose data does not match the hash in its metadata."""
    key = await encryption_key(api, auth, ACTIVE)
    ref: dict[str, str] = (await create(api, auth, ACTIVE)).json()
    body = {
        "encryptedMetadata": encrypt(
            key, metadata_for(SAMPLE.read_bytes(), {}, XBAU), cty="application/json"
        ),
        "encryptedData": encrypt(key, SAMPLE.read_bytes() + b"<!-- changed -->"),
    }
    submitted = await api.put(f"/v1/submissions/{ref['submissionId']}", json=body, headers=auth)
    assert submitted.status_code == 200, submitted.text
    return ref


def _plaintexts() -> list[str]:
    """The sample's text and attribute values long enough to be telling, and the attachment."""
    xml = SAMPLE.read_text()
    found = re.findall(r">([^<>]+)<", xml) + re.findall(r'="([^"]+)"', xml)
    return sorted({t.strip() for t in found if len(t.strip()) >= 6} | {"%PDF-1.4 Lageplan", SECRET})


async def test_a_delivered_and_a_rejected_submission_leave_their_whole_life_in_one_intact_chain(
    pipeline: PipelineGateway,  # noqa: F811
) -> None:
    pipeline.base["retention"] = {"final_grace_seconds": 1, "sweep_interval_seconds": 0.2}
    api, _, _ = await pipeline.start()
    auth = bearer(await token(api))
    delivered, _ = await send(api, auth, LEIKA)
    rejected = await _rejected(api, auth)
    claims = await final_log(api, auth, delivered["caseId"])
    await final_log(api, auth, rejected["caseId"])
    sessions = gateway_of(api).sessions

    async def life(ref: dict[str, str], length: int) -> list[AuditEntry]:
        async with sessions() as session:
            entries = await audit.entries_of(session, ref["submissionId"])
        return entries if len(entries) >= length else []

    for ref, expected in ((delivered, DELIVERED), (rejected, REJECTED)):
        entries = await eventually(partial(life, ref, len(expected)), within=30, what="content.deleted")
        assert [(e.action, e.outcome, e.actor) for e in entries] == expected
        assert {(e.case_id, e.destination_id) for e in entries} == {(ref["caseId"], ACTIVE)}

    entries = await life(delivered, len(DELIVERED))
    submitted = next(e for e in entries if e.action == "submission.submitted")
    tags: dict[str, Any] = next(iter(claims[1]["events"].values()))["authenticationTags"]
    assert submitted.detail["authentication_tags"] == tags
    assert set(submitted.detail["ciphertext_sha256"]) == {"metadata", "data"}
    attachment = next(e for e in entries if e.action == "attachment.stored")
    assert attachment.detail["authentication_tag"] == next(iter(tags["attachments"].values()))
    attempt = next(e for e in entries if e.action == "delivery.attempt")
    assert attempt.detail["attempt"] == 1 and attempt.detail["adapter"] == "filesystem"

    async with sessions() as session:
        verdict = await audit.verify(session)
        dump = json.dumps(
            [list(row) for row in await session.execute(text("SELECT * FROM audit_log"))], default=str
        )
    assert verdict.broken is None and verdict.intact == len(DELIVERED) + len(REJECTED)
    leaked = [t for t in _plaintexts() if t in dump]
    assert leaked == []
