"""The Submission API end to end in process: the happy path, and every rejection stores nothing."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from gateway.config.model import METADATA_VERSIONS
from gateway.crypto.jws import sign_hs256
from tests.conftest import ACTIVE, INACTIVE, OTHER, XBAU
from tests.helpers import (
    bearer,
    counts,
    create,
    encrypt,
    encryption_key,
    metadata_for,
    new_id,
    token,
    upload,
    verify_event_log,
)

FIT = "https://schema.fitko.de/fit-connect/submission-api/problems/"
OWN = "urn:xoev-gateway:problem:"
XML = b"<?xml version='1.0' encoding='UTF-8'?><antrag/>"


@pytest.fixture
async def auth(api: httpx.AsyncClient) -> dict[str, str]:
    return bearer(await token(api))


def assert_problem(response: httpx.Response, status: int, type_: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == type_ and body["status"] == status and body["title"]


async def test_submission_with_attachment_is_stored_and_logged(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    created = await create(api, auth, ACTIVE, [aid])
    assert created.status_code == 201, created.text
    ref = created.json()
    assert set(ref) == {"destinationId", "submissionId", "caseId"} and ref["destinationId"] == ACTIVE
    attachment = encrypt(key, b"%PDF-1.4 antrag", cty="application/pdf")
    assert (await upload(api, auth, ref["submissionId"], aid, attachment)).status_code == 204
    metadata = encrypt(key, metadata_for(XML, {aid: b"%PDF-1.4 antrag"}, XBAU), cty="application/json")
    data = encrypt(key, XML)
    submitted = await api.put(
        f"/v1/submissions/{ref['submissionId']}",
        json={"encryptedMetadata": metadata, "encryptedData": data},
        headers=auth,
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.json() == ref

    log = await api.get(f"/v1/cases/{ref['caseId']}/events", headers=auth)
    jwks = (await api.get("/.well-known/jwks.json")).json()
    claims = verify_event_log(log.json()["eventLog"], jwks)
    events = [next(iter(c["events"])) for c in claims]
    assert events == [
        "https://schema.fitko.de/fit-connect/events/create-submission",
        "https://schema.fitko.de/fit-connect/events/submit-submission",
    ]
    for c in claims:
        assert c["iss"] == "http://gateway.test"
        assert c["sub"] == f"submission:{ref['submissionId']}" and c["txn"] == f"case:{ref['caseId']}"
        assert c["$schema"].startswith("https://schema.fitko.de/fit-connect/set-payload/")
    tags = claims[1]["events"][events[1]]["authenticationTags"]
    assert tags == {
        "metadata": metadata.split(".")[4],
        "data": data.split(".")[4],
        "attachments": {aid: attachment.split(".")[4]},
    }
    v2_log = await api.get(f"/v2/submissions/{ref['submissionId']}/events", headers=auth)
    assert v2_log.json() == log.json()
    assert (await counts(api))["outbox"] == 1


async def test_v2_uses_public_service_names(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    destination = (await api.get(f"/v2/destinations/{ACTIVE}", headers=auth)).json()
    assert "publicServices" in destination and "services" not in destination
    schemas = destination["publicServices"][0]["submissionSchemas"]
    assert schemas == [{"schemaUri": XBAU, "mimeType": "application/xml"}]
    response = await api.post(
        "/v2/submissions",
        json={
            "destinationId": ACTIVE,
            "announcedAttachments": [],
            "publicService": destination["publicServices"][0],
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    key = await encryption_key(api, auth, ACTIVE)
    only_metadata = await api.put(
        f"/v2/submissions/{response.json()['submissionId']}",
        json={"encryptedMetadata": encrypt(key, b"{}", cty="application/json")},
        headers=auth,
    )
    assert_problem(only_metadata, 422, OWN + "request-body-invalid")


async def test_destination_and_public_key(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    destination = (await api.get(f"/v1/destinations/{ACTIVE}", headers=auth)).json()
    assert destination["status"] == "active" and destination["metadataVersions"] == list(METADATA_VERSIONS)
    key = (await api.get(f"/v1/destinations/{ACTIVE}/keys/{destination['encryptionKid']}")).json()
    assert key["key_ops"] == ["wrapKey"] and key["alg"] == "RSA-OAEP-256" and key["e"] == "AQAB"
    assert len(key["n"]) >= 683 and key["x5c"] and "d" not in key
    assert_problem(
        await api.get(f"/v1/destinations/{new_id()}", headers=auth), 404, FIT + "destination-not-found"
    )
    assert_problem(await api.get(f"/v1/destinations/{ACTIVE}/keys/nope"), 404, OWN + "key-not-found")


@pytest.mark.parametrize(
    ("destination", "extra", "status", "type_"),
    [
        ("0f0f0f0f-1111-4222-8333-444444444444", {}, 404, FIT + "destination-not-found"),  # unknown
        (INACTIVE, {}, 422, FIT + "destination-state-invalid"),
        (
            ACTIVE,
            {"serviceType": {"name": "x", "identifier": "urn:de:fim:leika:leistung:99999999999999"}},
            422,
            OWN + "service-not-offered",
        ),
        (OTHER, {}, 403, OWN + "destination-not-allowed"),
        (ACTIVE, {"announcedAttachments": ["not-a-uuid"]}, 422, OWN + "request-body-invalid"),
    ],
)
async def test_create_rejections_store_nothing(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    destination: str,
    extra: dict[str, Any],
    status: int,
    type_: str,
) -> None:
    before = await counts(api)
    assert_problem(await create(api, auth, destination, **extra), status, type_)
    assert await counts(api) == before


async def test_same_attachment_id_announced_twice_is_rejected(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    aid = new_id()
    before = await counts(api)
    assert_problem(await create(api, auth, ACTIVE, [aid, aid]), 422, OWN + "attachment-ids-not-unique")
    assert_problem(
        await create(api, auth, ACTIVE, [new_id() for _ in range(101)]), 422, OWN + "too-many-attachments"
    )
    assert await counts(api) == before


async def test_unannounced_attachment_is_not_stored(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    ref = (await create(api, auth, ACTIVE, [new_id()])).json()
    before = await counts(api)
    response = await upload(api, auth, ref["submissionId"], new_id(), encrypt(key, b"x"))
    assert_problem(response, 404, OWN + "attachment-not-found")
    assert await counts(api) == before


async def test_submit_needs_every_announced_attachment(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    first, second = new_id(), new_id()
    ref = (await create(api, auth, ACTIVE, [first, second])).json()
    assert (await upload(api, auth, ref["submissionId"], first, encrypt(key, b"a"))).status_code == 204
    before = await counts(api)
    response = await api.put(
        f"/v1/submissions/{ref['submissionId']}",
        json={"encryptedMetadata": encrypt(key, b"{}")},
        headers=auth,
    )
    assert_problem(response, 422, OWN + "missing-attachments")
    assert second in response.json()["detail"]
    assert await counts(api) == before


async def test_repeated_submit_answers_as_the_first_and_other_parts_are_a_conflict(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    ref = (await create(api, auth, ACTIVE, [aid])).json()
    assert (await upload(api, auth, ref["submissionId"], aid, encrypt(key, b"a"))).status_code == 204
    body = {"encryptedMetadata": encrypt(key, b"{}"), "encryptedData": encrypt(key, XML)}
    first = await api.put(f"/v1/submissions/{ref['submissionId']}", json=body, headers=auth)
    assert first.status_code == 200
    before = await counts(api)
    again = await api.put(f"/v1/submissions/{ref['submissionId']}", json=body, headers=auth)
    assert again.status_code == 200 and again.json() == first.json() == ref
    other_data = {**body, "encryptedData": encrypt(key, XML)}
    conflict = await api.put(f"/v1/submissions/{ref['submissionId']}", json=other_data, headers=auth)
    assert_problem(conflict, 409, OWN + "submission-state-invalid")
    without_data = await api.put(
        f"/v1/submissions/{ref['submissionId']}",
        json={"encryptedMetadata": body["encryptedMetadata"]},
        headers=auth,
    )
    assert_problem(without_data, 409, OWN + "submission-state-invalid")
    late_upload = await upload(api, auth, ref["submissionId"], aid, encrypt(key, b"b"))
    assert_problem(late_upload, 409, OWN + "submission-state-invalid")
    assert await counts(api) == before


async def test_reupload_before_submit_replaces_the_attachment(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    ref = (await create(api, auth, ACTIVE, [aid])).json()
    await upload(api, auth, ref["submissionId"], aid, encrypt(key, b"first"))
    second = encrypt(key, b"second")
    assert (await upload(api, auth, ref["submissionId"], aid, second)).status_code == 204
    after = await counts(api)
    assert after["attachments"] == 1 and after["blobs"] == 1
    await api.put(
        f"/v1/submissions/{ref['submissionId']}",
        json={"encryptedMetadata": encrypt(key, b"{}")},
        headers=auth,
    )
    claims = verify_event_log(
        (await api.get(f"/v1/cases/{ref['caseId']}/events", headers=auth)).json()["eventLog"],
        (await api.get("/.well-known/jwks.json")).json(),
    )
    tags = next(iter(claims[-1]["events"].values()))["authenticationTags"]
    assert tags["attachments"][aid] == second.split(".")[4]


def _tamper_segments(jwe: str, count: int) -> str:
    return ".".join(jwe.split(".")[:count]) if count < 5 else jwe + ".AAAA"


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda k: _tamper_segments(encrypt(k, b"x"), 4), "jwe-malformed"),
        (lambda k: _tamper_segments(encrypt(k, b"x"), 6), "jwe-malformed"),
        (lambda k: '{"protected":"e30","ciphertext":"AA"}', "jwe-malformed"),
        (lambda k: encrypt(k, b"x") + "=", "jwe-malformed"),
        (lambda k: encrypt(k, b"x", alg="RSA-OAEP"), "jwe-header-not-allowed"),
        (lambda k: encrypt(k, b"x", enc="A128GCM"), "jwe-header-not-allowed"),
        (lambda k: encrypt(k, b"x", jku="http://127.0.0.1:9/jwks"), "jwe-header-not-allowed"),
        (lambda k: encrypt(k, b"x", kid="../../keys/admin"), "jwe-unknown-key"),
    ],
)
async def test_bad_jwe_is_refused_at_upload_and_submit(
    api: httpx.AsyncClient, auth: dict[str, str], mangle: object, reason: str
) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    ref = (await create(api, auth, ACTIVE, [aid])).json()
    bad = mangle(key)  # type: ignore[operator]
    before = await counts(api)
    assert_problem(await upload(api, auth, ref["submissionId"], aid, bad), 400, OWN + reason)
    await upload(api, auth, ref["submissionId"], aid, encrypt(key, b"ok"))
    middle = await counts(api)
    response = await api.put(
        f"/v1/submissions/{ref['submissionId']}", json={"encryptedMetadata": bad}, headers=auth
    )
    assert_problem(response, 400, OWN + reason)
    assert await counts(api) == middle and middle["blobs"] == before["blobs"] + 1


async def test_wrong_content_type_is_415(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    ref = (await create(api, auth, ACTIVE, [aid])).json()
    before = await counts(api)
    for content_type in ("text/plain", "application/json", "multipart/form-data; boundary=x"):
        response = await api.put(
            f"/v1/submissions/{ref['submissionId']}/attachments/{aid}",
            content=encrypt(key, b"x"),
            headers={**auth, "Content-Type": content_type},
        )
        assert_problem(response, 415, OWN + "unsupported-media-type")
    form = await api.post("/v1/submissions", data={"destinationId": ACTIVE}, headers=auth)
    assert_problem(form, 415, OWN + "unsupported-media-type")
    assert await counts(api) == before


async def test_oversize_bodies_are_413(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    limits = api.app.state.gateway.settings.limits  # type: ignore[attr-defined]
    limits.max_attachment_bytes = 4096
    limits.max_json_body_bytes = 4096
    key = await encryption_key(api, auth, ACTIVE)
    aid = new_id()
    ref = (await create(api, auth, ACTIVE, [aid])).json()
    before = await counts(api)
    big = encrypt(key, b"x" * 8000)
    assert_problem(await upload(api, auth, ref["submissionId"], aid, big), 413, OWN + "payload-too-large")

    async def chunked() -> object:  # no Content-Length: the stream itself is counted
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000].encode()

    response = await api.put(
        f"/v1/submissions/{ref['submissionId']}/attachments/{aid}",
        content=chunked(),  # type: ignore[arg-type]
        headers={**auth, "Content-Type": "application/jose"},
    )
    assert_problem(response, 413, OWN + "payload-too-large")
    submit = await api.put(
        f"/v1/submissions/{ref['submissionId']}", json={"encryptedMetadata": big}, headers=auth
    )
    assert_problem(submit, 413, OWN + "payload-too-large")
    assert await counts(api) == before


def _forged(claims: dict[str, object]) -> str:
    return sign_hs256(b"not-the-gateway-secret", {"typ": "at+jwt"}, claims)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer ",
        "Basic cG9ydGFsOnNlY3JldA==",
        "Bearer not.a.jwt",
        "Bearer " + _forged({"sub": "portal", "exp": int(time.time()) + 600}),
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJwb3J0YWwifQ.",
    ],
)
async def test_bad_tokens_are_401_before_anything_is_read(
    api: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    before = await counts(api)
    response = await create(api, headers, ACTIVE)
    assert_problem(response, 401, OWN + "invalid-token")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await counts(api) == before


SKEW = 60  # gateway.api.tokens.CLOCK_SKEW_SECONDS


@pytest.mark.parametrize(
    ("times", "status"),
    [
        ({"exp": -SKEW - 1, "iat": -1800}, 401),  # expired beyond the leeway
        ({"exp": -SKEW + 5, "iat": -1800}, 201),  # expired within the leeway of another clock
        ({"exp": 600, "iat": 0, "nbf": SKEW + 30}, 401),  # not valid yet
        ({"exp": 600, "iat": 0, "nbf": SKEW - 30}, 201),  # nbf within the leeway
        ({"exp": 600, "iat": SKEW + 30}, 401),  # issued in the future
        ({"exp": 600}, 401),  # no iat
        ({"exp": 600.5, "iat": 0}, 401),  # not a NumericDate integer
        ({"exp": "600", "iat": 0}, 401),
    ],
)
async def test_token_times_follow_rfc_7519_with_clock_leeway(
    api: httpx.AsyncClient, times: dict[str, object], status: int
) -> None:
    services = api.app.state.services  # type: ignore[attr-defined]
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "http://gateway.test",
        "aud": "xoev-gateway:submission-api",
        "sub": "portal",
        **{k: now + v if isinstance(v, int | float) else v for k, v in times.items()},
    }
    signed = sign_hs256(services.tokens.secret, {"typ": "at+jwt"}, claims)
    response = await create(api, bearer(signed), ACTIVE)
    if status == 401:
        assert_problem(response, 401, OWN + "invalid-token")
    else:
        assert response.status_code == status, response.text


async def test_token_endpoint(api: httpx.AsyncClient) -> None:
    ok = await api.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "portal",
            "client_secret": "s3cr3t-for-tests-only-0123456789abcdef",
        },
    )
    body = ok.json()
    assert (
        body["token_type"] == "Bearer" and body["expires_in"] == 1800 and body["scope"] == "send:region:06435"
    )
    wrong = await api.post(
        "/token", data={"grant_type": "client_credentials", "client_id": "portal", "client_secret": "no"}
    )
    assert_problem(wrong, 401, OWN + "invalid-client")
    assert wrong.json()["error"] == "invalid_client"
    unknown = await api.post(
        "/token", data={"grant_type": "client_credentials", "client_id": "ghost", "client_secret": "no"}
    )
    assert unknown.status_code == 401
    grant = await api.post("/token", data={"grant_type": "password", "client_id": "portal"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


async def test_foreign_case_looks_like_an_unknown_one(api: httpx.AsyncClient, auth: dict[str, str]) -> None:
    ref = (await create(api, auth, ACTIVE)).json()
    other = bearer(await token(api, "other-portal", "another-s3cr3t-for-tests-0123456789"))
    foreign = await api.get(f"/v1/cases/{ref['caseId']}/events", headers=other)
    unknown = await api.get(f"/v1/cases/{new_id()}/events", headers=other)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    sub_foreign = await upload(api, other, ref["submissionId"], new_id(), "x.y.z.w.v")
    assert_problem(sub_foreign, 404, FIT + "submission-not-found")


@pytest.mark.parametrize(
    "path_id", ["..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f", "abc", "4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01%0A"]
)
async def test_path_ids_must_be_uuids(api: httpx.AsyncClient, auth: dict[str, str], path_id: str) -> None:
    response = await api.put(
        f"/v1/submissions/{path_id}/attachments/{path_id}",
        content="a.b.c.d.e",
        headers={**auth, "Content-Type": "application/jose"},
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
