"""``POST /v1/validate``: the stage's checks on a whole submission in one request, storing nothing;
what intake refuses is refused the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ACTIVE, LEIKA, OTHER, XBAU
from tests.helpers import counts, encrypt, new_id
from tests.integration.validator.conftest import LEIKA_2
from tests.integration.validator.support import PDF, PROBLEM, metadata, slugs

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"
XBAU_SAMPLE = (
    CORPUS / "xbau-2.6/samples/made-here/MADE-HERE_minimal_baugenehmigung.antrag.0200.xml"
).read_bytes()
OWN = "urn:xoev-gateway:problem:"


def body(
    key: dict[str, Any],
    data: bytes | None = XBAU_SAMPLE,
    *,
    attachments: dict[str, bytes] | None = None,
    meta: bytes | None = None,
    **extra: Any,
) -> dict[str, Any]:
    attachments = attachments if attachments is not None else {new_id(): PDF}
    meta = meta if meta is not None else metadata(data, attachments, XBAU)
    return {
        "destinationId": ACTIVE,
        "serviceType": {"identifier": LEIKA, "name": "Baugenehmigung"},
        "encryptedMetadata": encrypt(key, meta, cty="application/json"),
        **({"encryptedData": encrypt(key, data)} if data is not None else {}),
        "attachments": {
            aid: encrypt(key, content, cty="application/pdf") for aid, content in attachments.items()
        },
        **extra,
    }


async def test_a_valid_submission_is_valid_and_nothing_is_stored(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any]
) -> None:
    before = await counts(vapi)
    response = await vapi.post("/v1/validate", json=body(key), headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"valid": True, "problems": []}
    v2 = body(key)
    v2["publicService"] = v2.pop("serviceType")
    response = await vapi.post("/v2/validate", json=v2, headers=auth)
    assert response.json() == {"valid": True, "problems": []}
    assert await counts(vapi) == before


async def test_problems_are_listed_as_a_reject_event_would_carry_them(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any]
) -> None:
    before = await counts(vapi)
    first, second = new_id(), new_id()
    meta = metadata(XBAU_SAMPLE, {first: PDF, second: b"other"}, XBAU)
    response = await vapi.post(
        "/v1/validate", json=body(key, attachments={first: PDF, second: b"changed"}, meta=meta), headers=auth
    )
    assert response.status_code == 200
    result = response.json()
    assert result["valid"] is False
    assert slugs(result["problems"]) == [("hash-mismatch", f"attachment:{second}")]
    assert result["problems"][0]["type"] == PROBLEM + "hash-mismatch" and result["problems"][0]["title"]
    broken = await vapi.post("/v1/validate", json=body(key, b"<antrag>"), headers=auth)
    assert slugs(broken.json()["problems"]) == [("syntax-violation", "data")]
    foreign_kid = body(key)
    foreign_kid["encryptedData"] = encrypt({**(await _other_key(vapi, auth)), "kid": key["kid"]}, XBAU_SAMPLE)
    undecryptable = await vapi.post("/v1/validate", json=foreign_kid, headers=auth)
    assert slugs(undecryptable.json()["problems"]) == [("encryption-issue", "data")]
    assert await counts(vapi) == before


async def _other_key(vapi: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    info = (await vapi.get(f"/v1/destinations/{OTHER}", headers=auth)).json()
    return dict((await vapi.get(f"/v1/destinations/{OTHER}/keys/{info['encryptionKid']}")).json())


@pytest.mark.parametrize(
    ("change", "status", "slug"),
    [
        (
            lambda b, k: {**b, "encryptedData": encrypt(k, b"x", alg="RSA-OAEP")},
            400,
            "jwe-header-not-allowed",
        ),
        (lambda b, k: {**b, "encryptedMetadata": "a.b.c"}, 400, "jwe-malformed"),
        (lambda b, k: {**b, "attachments": {new_id(): encrypt(k, b"x", kid="nope")}}, 400, "jwe-unknown-key"),
        (lambda b, k: {**b, "attachments": {"not-a-uuid": encrypt(k, b"x")}}, 422, "request-body-invalid"),
        (
            lambda b, k: {**b, "destinationId": OTHER, "serviceType": {"identifier": LEIKA_2}},
            403,
            "destination-not-allowed",
        ),
        (
            lambda b, k: {**b, "serviceType": {"identifier": LEIKA_2.replace("2000", "9000")}},
            422,
            "service-not-offered",
        ),
        (lambda b, k: {k2: v for k2, v in b.items() if k2 != "serviceType"}, 422, "request-body-invalid"),
        (
            lambda b, k: {k2: v for k2, v in b.items() if k2 != "encryptedMetadata"},
            422,
            "request-body-invalid",
        ),
    ],
)
async def test_what_intake_refuses_is_refused_alike(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], change: Any, status: int, slug: str
) -> None:
    before = await counts(vapi)
    response = await vapi.post("/v1/validate", json=change(body(key), key), headers=auth)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == OWN + slug
    assert await counts(vapi) == before


async def test_the_dry_run_needs_a_token_and_respects_the_body_cap(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any]
) -> None:
    assert (await vapi.post("/v1/validate", json=body(key))).status_code == 401
    limits = vapi.app.state.gateway.settings.limits  # type: ignore[attr-defined]
    limits.max_json_body_bytes = 4096
    response = await vapi.post("/v1/validate", json=body(key, attachments={new_id(): PDF * 10}), headers=auth)
    assert response.status_code == 413
