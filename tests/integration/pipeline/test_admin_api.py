"""The admin API (``/admin/v1``): operators with HTTP Basic credentials list, replay and reject
parked submissions and read status and trace; no credentials, a sender's token and an operator
of another tenant are refused on every route."""

from __future__ import annotations

import asyncio
import base64

import httpx

from gateway.crypto.secrets import hash_secret
from gateway.store.attempts import attempts_of
from gateway.store.models import Submission
from tests.conftest import ACTIVE
from tests.helpers import bearer, gateway_of, token
from tests.integration.pipeline.conftest import HTTP_LEIKA, PipelineGateway
from tests.integration.pipeline.test_binding_policy import settled
from tests.integration.pipeline.test_pipeline import EVENTS, final_log, send
from tests.unit.adapters.vendor_server import Answer, VendorServer

OPS_SECRET = "operator-secret-0123456789abcdef"


def basic(name: str, secret: str = OPS_SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


async def start(pipeline: PipelineGateway) -> tuple[httpx.AsyncClient, VendorServer]:
    digest = hash_secret(OPS_SECRET)
    pipeline.base["operators"] = [
        {"id": "ops", "secret_hash": digest},
        {"id": "musterstadt-ops", "secret_hash": digest, "tenants": ["musterstadt"]},
        {"id": "elsewhere-ops", "secret_hash": digest, "tenants": ["elsewhere"]},
    ]
    api, _, vendor = await pipeline.start()
    vendor.script(Answer(422, body=b"E-4711"), Answer(422, body=b"E-4712"))
    return api, vendor


async def test_operators_replay_and_reject_parked_submissions_of_their_tenant(
    pipeline: PipelineGateway,
) -> None:
    api, vendor = await start(pipeline)
    auth = bearer(await token(api))
    refs = [(await send(api, auth, HTTP_LEIKA))[0] for _ in range(2)]
    for ref in refs:
        await settled(api, ref["submissionId"], "parked")
    ops = basic("musterstadt-ops")

    listed = (await api.get("/admin/v1/parked", params={"destination": ACTIVE}, headers=ops)).json()
    assert {p["submission_id"] for p in listed} == {r["submissionId"] for r in refs}
    shown = await api.get(f"/admin/v1/parked/{refs[0]['submissionId']}", headers=ops)
    assert shown.status_code == 200 and shown.json()["code"] == "422"

    body = {"submissionId": refs[0]["submissionId"], "reason": "vendor fixed E-4711"}
    replayed = await api.post("/admin/v1/parked/replay", json=body, headers=ops)
    assert replayed.status_code == 200, replayed.text
    assert [r["outcome"] for r in replayed.json()] == ["replayed"]
    attempts = await settled(api, refs[0]["submissionId"], "delivered")
    assert [a.attempt for a in attempts] == [1, 2]

    path = f"/admin/v1/parked/{refs[1]['submissionId']}/reject"
    rejected = await api.post(path, json={"reason": "vendor refuses"}, headers=basic("ops"))
    assert rejected.status_code == 200, rejected.text
    claims = await final_log(api, auth, refs[1]["caseId"])
    assert claims[-1]["iss"] == ACTIVE and EVENTS + "reject-submission" in claims[-1]["events"]
    assert (await api.get("/admin/v1/parked", headers=ops)).json() == []

    traced = await api.get(f"/admin/v1/trace/{refs[0]['caseId']}", headers=ops)
    assert [e["fields"]["attempt"] for e in traced.json()["entries"] if e["kind"] == "attempt"] == [1, 2]
    status = (await api.get("/admin/v1/status", headers=ops)).json()
    assert [d["destination_id"] for d in status["destinations"]] == [ACTIVE]


async def test_every_admin_route_refuses_no_credentials_a_sender_token_and_another_tenants_operator(
    pipeline: PipelineGateway,
) -> None:
    api, vendor = await start(pipeline)
    auth = bearer(await token(api))
    ref, _ = await send(api, auth, HTTP_LEIKA)
    await settled(api, ref["submissionId"], "parked")
    sid = ref["submissionId"]
    routes = [
        ("GET", "/admin/v1/parked", None),
        ("GET", f"/admin/v1/parked/{sid}", None),
        ("POST", "/admin/v1/parked/replay", {"submissionId": sid, "reason": "r"}),
        ("POST", f"/admin/v1/parked/{sid}/reject", {"reason": "r"}),
        ("GET", "/admin/v1/status", None),
        ("GET", f"/admin/v1/trace/{sid}", None),
        ("POST", f"/admin/v1/destinations/{ACTIVE}/pause", {"reason": "r"}),
        ("GET", f"/admin/v1/destinations/{ACTIVE}/keys", None),
        ("POST", f"/admin/v1/destinations/{ACTIVE}/keys/rotate", {"reason": "r"}),
        ("POST", f"/admin/v1/destinations/{ACTIVE}/keys/prune", {"reason": "r"}),
    ]
    paths = {p for p in api.app.openapi()["paths"] if p.startswith("/admin/")}  # type: ignore[attr-defined]
    assert len(paths) == len(routes)  # every admin route is tried below
    for method, path, body in routes:
        for headers in ({}, auth, basic("ops", "wrong-secret"), basic("nobody")):
            answer = await api.request(method, path, json=body, headers=headers)
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.json()["type"].endswith("invalid-operator")
    elsewhere = basic("elsewhere-ops")
    assert (await api.get("/admin/v1/parked", headers=elsewhere)).json() == []
    assert (
        await api.get("/admin/v1/parked", params={"destination": ACTIVE}, headers=elsewhere)
    ).status_code == 403
    assert (await api.get(f"/admin/v1/parked/{sid}", headers=elsewhere)).status_code == 404
    replay = await api.post(
        "/admin/v1/parked/replay", json={"submissionId": sid, "reason": "r"}, headers=elsewhere
    )
    assert replay.status_code == 200 and replay.json() == []
    reject = await api.post(f"/admin/v1/parked/{sid}/reject", json={"reason": "r"}, headers=elsewhere)
    assert reject.status_code == 404
    assert (await api.get(f"/admin/v1/trace/{sid}", headers=elsewhere)).status_code == 404
    status = (await api.get("/admin/v1/status", headers=elsewhere)).json()
    assert status["destinations"] == [] and status["keys"] == []
    paused = await api.post(f"/admin/v1/destinations/{ACTIVE}/pause", json={"reason": "r"}, headers=elsewhere)
    assert paused.status_code == 403
    still = (await api.get("/admin/v1/parked", headers=basic("ops"))).json()
    assert [p["submission_id"] for p in still] == [sid]


async def test_a_paused_destination_delivers_nothing_spends_no_attempt_and_delivers_after_resume(
    pipeline: PipelineGateway,
) -> None:
    api, vendor = await start(pipeline)
    ops, auth = basic("musterstadt-ops"), bearer(await token(api))
    paused = await api.post(
        f"/admin/v1/destinations/{ACTIVE}/pause", json={"reason": "DMS update"}, headers=ops
    )
    assert paused.status_code == 204, paused.text
    status = (await api.get("/admin/v1/status", headers=ops)).json()
    assert [d["status"] for d in status["destinations"]] == ["paused"]
    vendor.scripted.clear()  # the vendor would accept now
    ref, _ = await send(api, auth, HTTP_LEIKA)
    await asyncio.sleep(3)  # the message waits, again and again, while paused
    async with gateway_of(api).sessions() as session:
        row = await session.get(Submission, ref["submissionId"])
        assert row is not None and row.status == "validated"
        assert await attempts_of(session, row.id) == []
    assert vendor.posts() == []

    resumed = await api.post(f"/admin/v1/destinations/{ACTIVE}/resume", json={"reason": "done"}, headers=ops)
    assert resumed.status_code == 204
    attempts = await settled(api, ref["submissionId"], "delivered")
    assert [(a.attempt, a.outcome.value) for a in attempts] == [(1, "delivered")]
    unknown = "00000000-0000-0000-0000-000000000000"
    missing = await api.post(
        f"/admin/v1/destinations/{unknown}/pause", json={"reason": "r"}, headers=basic("ops")
    )
    assert missing.status_code == 404
