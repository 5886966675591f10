"""Rotating a destination's keys while submissions are in flight (``xgw keys``, run as a second
process on the same database and key directory, and ``/admin/v1/destinations/{id}/keys``): the
new encryption key is published at once, a submission encrypted to the old key before the
rotation still decrypts and is delivered, the old key is pruned only once nothing needs it, and
operators of another tenant or an unknown destination are refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from sqlalchemy import select

from gateway.store.models import AuditEntry
from tests.conftest import ACTIVE, LEIKA, XBAU
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
from tests.integration.pipeline.test_admin_api import basic, start
from tests.integration.pipeline.test_binding_policy import settled
from tests.integration.pipeline.test_parked_operations import xgw
from tests.integration.pipeline.test_pipeline import EVENTS, SAMPLE, final_log, send


async def begin(
    api: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any]
) -> tuple[dict[str, str], bytes]:
    """Create a submission and upload its attachment encrypted to ``key``; not submitted yet."""
    pdf, aid = b"%PDF-1.4 Lageplan", new_id()
    ref = (await create(api, auth, ACTIVE, [aid], serviceType={"name": "Bau", "identifier": LEIKA})).json()
    uploaded = await upload(api, auth, ref["submissionId"], aid, encrypt(key, pdf, cty="application/pdf"))
    assert uploaded.status_code == 204, uploaded.text
    return ref | {"attachmentId": aid}, pdf


async def submit(
    api: httpx.AsyncClient, auth: dict[str, str], ref: dict[str, str], pdf: bytes, key: dict[str, Any]
) -> None:
    """Submit metadata and data encrypted to ``key``."""
    xml = SAMPLE.read_bytes()
    metadata = metadata_for(xml, {ref["attachmentId"]: pdf}, XBAU)
    body = {
        "encryptedMetadata": encrypt(key, metadata, cty="application/json"),
        "encryptedData": encrypt(key, xml),
    }
    submitted = await api.put(f"/v1/submissions/{ref['submissionId']}", json=body, headers=auth)
    assert submitted.status_code == 200, submitted.text


async def keys_of(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    code, out, err = await xgw(api, "keys", "list", ACTIVE, "--json")
    assert code == 0, err
    return {k["kid"]: k for k in json.loads(out)}


async def test_rotation_publishes_the_new_key_and_keeps_the_old_one_until_nothing_in_flight_needs_it(
    pipeline: PipelineGateway,
) -> None:
    api, _, _ = await pipeline.start()
    auth = bearer(await token(api))
    old = await encryption_key(api, auth, ACTIVE)
    in_flight, pdf = await begin(api, auth, old)  # the sender has the old key and is half way through

    code, out, err = await xgw(api, "keys", "rotate", ACTIVE, "--reason", "yearly key change", "--json")
    assert code == 0, err
    rotation = json.loads(out)
    assert (
        rotation["previous"] == old["kid"]
        and rotation["kid"] != old["kid"]
        and rotation["use"] == "encryption"
    )

    new = await encryption_key(api, auth, ACTIVE)  # what every sender reads from now on
    assert new["kid"] == rotation["kid"] and new["key_ops"] == ["wrapKey"]
    listed = (await api.get(f"/v2/destinations/{ACTIVE}/keys")).json()["keys"]
    assert listed[0]["kid"] == new["kid"] and old["kid"] in [k["kid"] for k in listed]
    keys = await keys_of(api)
    assert keys[new["kid"]]["current"] and not keys[old["kid"]]["current"]
    assert keys[old["kid"]]["in_flight"] == 1 and keys[old["kid"]]["retired_at"] is not None

    code, out, err = await xgw(api, "keys", "prune", ACTIVE, "--grace", "0s", "--reason", "early", "--json")
    assert code == 0, err
    assert [(r["kid"], r["outcome"], r["in_flight"]) for r in json.loads(out)] == [(old["kid"], "needed", 1)]
    key_file = gateway_of(api).keys.root / ACTIVE / f"{old['kid']}.json"
    assert key_file.exists()

    await submit(api, auth, in_flight, pdf, old)  # encrypted to the old key before the rotation
    fresh, _ = await send(api, auth, LEIKA)  # a sender that fetched the new key
    for ref in (in_flight, fresh):
        await settled(api, ref["submissionId"], "delivered")
        claims = await final_log(api, auth, ref["caseId"])
        assert EVENTS + "accept-submission" in claims[-1]["events"]

    code, out, err = await xgw(api, "keys", "prune", ACTIVE, "--reason", "rotation done", "--json")
    assert code == 0, err
    assert [r["outcome"] for r in json.loads(out)] == ["recent"]  # the default grace: 24 hours
    code, out, err = await xgw(
        api, "keys", "prune", ACTIVE, "--grace", "0s", "--reason", "rotation done", "--json"
    )
    assert code == 0, err
    assert [(r["kid"], r["outcome"]) for r in json.loads(out)] == [(old["kid"], "pruned")]
    assert not key_file.exists()
    assert (await api.get(f"/v1/destinations/{ACTIVE}/keys/{old['kid']}")).status_code == 404
    assert old["kid"] not in await keys_of(api)
    late, _ = await begin(api, auth, new)
    stale = await upload(
        api, auth, late["submissionId"], new_id(), encrypt(old, b"%PDF", cty="application/pdf")
    )
    assert stale.status_code in (400, 404)  # the pruned key is unknown at intake

    async with gateway_of(api).sessions() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action.in_(["operator.rotate_key", "operator.prune_key"]))
            )
        )
    assert [(e.action, e.destination_id, e.outcome) for e in entries] == [
        ("operator.rotate_key", ACTIVE, new["kid"]),
        ("operator.prune_key", ACTIVE, "pruned"),
    ]
    assert entries[0].actor.endswith("@cli") and entries[0].detail["previous"] == old["kid"]
    assert entries[0].detail["why"] == "yearly key change"


async def test_admin_api_rotates_signing_and_encryption_keys_within_the_operators_scope(
    pipeline: PipelineGateway,
) -> None:
    api, _ = await start(pipeline)
    auth, ops = bearer(await token(api)), basic("musterstadt-ops")
    path = f"/admin/v1/destinations/{ACTIVE}/keys"
    before = (await api.get(path, headers=ops)).json()
    old_signing = next(k["kid"] for k in before if k["purpose"] == "signing" and k["current"])

    refused = await api.post(f"{path}/rotate", json={"reason": "r"}, headers=basic("elsewhere-ops"))
    assert refused.status_code == 403
    assert (await api.get(path, headers=basic("elsewhere-ops"))).status_code == 403
    unknown = "00000000-0000-0000-0000-000000000000"
    missing = await api.post(
        f"/admin/v1/destinations/{unknown}/keys/rotate", json={"reason": "r"}, headers=basic("ops")
    )
    assert missing.status_code == 404 and missing.json()["type"].endswith("destination-not-found")
    assert (await api.get(path, headers=ops)).json() == before  # nothing changed

    signing = await api.post(
        f"{path}/rotate", json={"reason": "new certificate", "use": "signing"}, headers=ops
    )
    assert signing.status_code == 200, signing.text
    assert signing.json()["previous"] == old_signing
    encryption = await api.post(f"{path}/rotate", json={"reason": "yearly"}, headers=ops)
    assert encryption.status_code == 200, encryption.text
    assert (await encryption_key(api, auth, ACTIVE))["kid"] == encryption.json()["kid"]

    ref, _ = await send(api, auth, LEIKA)
    await settled(api, ref["submissionId"], "delivered")
    tokens = (await api.get(f"/v1/cases/{ref['caseId']}/events", headers=auth)).json()["eventLog"]
    accept_header = json.loads(base64.urlsafe_b64decode(tokens[-1].split(".")[0] + "=="))
    assert accept_header["kid"] == signing.json()["kid"]  # signed with the new key, published
    await final_log(api, auth, ref["caseId"])  # verifies with the keys the destination publishes
    after = {k["kid"]: k for k in (await api.get(path, headers=ops)).json()}
    assert after[old_signing]["purpose"] == "signing" and not after[old_signing]["current"]

    pruned = await api.post(f"{path}/prune", json={"reason": "done", "graceSeconds": 0}, headers=ops)
    assert pruned.status_code == 200, pruned.text
    assert [r["outcome"] for r in pruned.json()] == ["pruned"]  # the encryption key; signing keys stay
    assert old_signing in {k["kid"] for k in (await api.get(path, headers=ops)).json()}
