"""A submission posted over HTTP travels intake → outbox → broker → validator → adapter, on the
in-process broker and on RabbitMQ, and the sender's event log ends with a verifiable accept."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ACTIVE, LEIKA, XBAU
from tests.eventually import eventually
from tests.helpers import (
    bearer,
    create,
    encrypt,
    encryption_key,
    metadata_for,
    new_id,
    token,
    upload,
    verify_event_log,
)
from tests.integration.pipeline.conftest import CONFIGURED_NAME, HTTP_LEIKA, PipelineGateway

SAMPLE = (
    Path(__file__).parents[2]
    / "data/corpus/xbau-2.6/samples/made-here/MADE-HERE_minimal_baugenehmigung.antrag.0200.xml"
)
EVENTS = "https://schema.fitko.de/fit-connect/events/"


async def send(
    api: httpx.AsyncClient, auth: dict[str, str], leika: str, destination: str = ACTIVE, **extra: Any
) -> tuple[dict[str, str], str]:
    key = await encryption_key(api, auth, destination)
    xml, pdf, aid = SAMPLE.read_bytes(), b"%PDF-1.4 Lageplan", new_id()
    ref = (
        await create(api, auth, destination, [aid], serviceType={"name": "Bau", "identifier": leika}, **extra)
    ).json()
    await upload(api, auth, ref["submissionId"], aid, encrypt(key, pdf, cty="application/pdf"))
    metadata = json.loads(metadata_for(xml, {aid: pdf}, XBAU))
    metadata["publicServiceType"]["identifier"] = leika
    body = {
        "encryptedMetadata": encrypt(key, json.dumps(metadata).encode(), cty="application/json"),
        "encryptedData": encrypt(key, xml),
    }
    submitted = await api.put(f"/v1/submissions/{ref['submissionId']}", json=body, headers=auth)
    assert submitted.status_code == 200, submitted.text
    return ref, aid


async def final_log(api: httpx.AsyncClient, auth: dict[str, str], case_id: str) -> list[dict[str, Any]]:
    async def key(destination: str, kid: str) -> dict[str, Any]:
        return dict((await api.get(f"/v1/destinations/{destination}/keys/{kid}")).json())

    async def settled_log() -> list[str]:  # create, submit, then accept or reject
        tokens: list[str] = (await api.get(f"/v1/cases/{case_id}/events", headers=auth)).json()["eventLog"]
        return tokens if len(tokens) >= 3 else []

    tokens = await eventually(settled_log, within=30, what=f"the final event of case {case_id}")
    keys = {}
    for tok in tokens:
        claims = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
        header = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
        if not claims["iss"].startswith("http"):
            keys[(claims["iss"], header["kid"])] = await key(claims["iss"], header["kid"])
    jwks = (await api.get("/.well-known/jwks.json")).json()
    return verify_event_log(tokens, jwks, lambda iss, kid: keys[(iss, kid)])


async def test_submission_reaches_the_hot_folder_and_the_vendor_endpoint(pipeline: PipelineGateway) -> None:
    api, hot_folder, vendor = await pipeline.start()
    auth = bearer(await token(api))
    to_folder, _ = await send(api, auth, LEIKA)
    to_vendor, _ = await send(api, auth, HTTP_LEIKA)
    for ref in (to_folder, to_vendor):
        claims = await final_log(api, auth, ref["caseId"])
        names = [next(iter(c["events"])).removeprefix(EVENTS) for c in claims]
        assert names == ["create-submission", "submit-submission", "accept-submission"]
        submitted, accepted = (
            claims[1]["events"][EVENTS + "submit-submission"],
            claims[2]["events"][EVENTS + "accept-submission"],
        )
        assert accepted["authenticationTags"] == submitted["authenticationTags"]
        assert claims[2]["iss"] == ACTIVE
    package = hot_folder / to_folder["submissionId"]
    manifest = json.loads((package / "manifest.json").read_text())
    assert (package / "metadata.json").is_file()
    assert manifest["service"] == {"identifier": LEIKA, "name": CONFIGURED_NAME}  # not the sender's text
    posts = vendor.posts()
    assert [{k.lower(): v for k, v in p.headers.items()}["idempotency-key"] for p in posts] == [
        to_vendor["submissionId"]
    ]
    assert posts[0].signature_ok is True
