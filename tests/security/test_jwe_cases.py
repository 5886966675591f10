"""Cases B1-B16 (SECURITY-CASES.md, "B. JWE envelope") end to end.

Header and serialization cases (B1-B4, B6-B9, B11, B12) never reach decryption: intake refuses
them with 400 at upload and at submit and stores nothing. Cases that pass intake by design are
decided by the validation stage: a ``zip: DEF`` bomb (B5) and every kind of tampering (B10) are
the same ``encryption-issue`` problem, a JWE whose content is not what ``cty`` says (B14) is a
``syntax-violation``, a retired key still works (B15), and a replayed JWE (B16) is simply
another submission (policy: no dedupe across submissions; each is its own case)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config.sync import sync_config
from gateway.crypto.jwe import DecryptionError
from gateway.stages.validate import Validator
from tests.conftest import ACTIVE, OTHER, XBAU
from tests.helpers import bearer, counts, encrypt, encryption_key, new_id, token, upload
from tests.integration.validator.envelopes import INTAKE, TAMPERED, bomb
from tests.integration.validator.support import (
    PDF,
    XBAU_SAMPLE,
    attach_validator,
    metadata,
    rejection,
    seal_raw,
    send,
    send_tokens,
    slugs,
    status,
)

pytestmark = pytest.mark.timeout(120)

MB = 1024 * 1024
OWN = "urn:xoev-gateway:problem:"

XBAU_LEIKA = "urn:de:fim:leika:leistung:99066006001000"
Stage = tuple[Validator, dict[str, str], dict[str, Any]]


@pytest.fixture
async def stage(api: httpx.AsyncClient) -> Stage:
    validator = attach_validator(api.app)  # type: ignore[attr-defined]
    auth = bearer(await token(api))
    return validator, auth, await encryption_key(api, auth, ACTIVE)


@pytest.mark.parametrize("case", sorted(INTAKE))
async def test_intake_refuses_the_envelope_before_any_decryption(
    api: httpx.AsyncClient, stage: Stage, case: str
) -> None:
    _, auth, key = stage
    build, slug = INTAKE[case]
    bad = build(encrypt(key, b"x"), key["kid"])
    aid = new_id()
    created = (
        await api.post(
            "/v1/submissions",
            json={
                "destinationId": ACTIVE,
                "announcedAttachments": [aid],
                "serviceType": {"identifier": XBAU_LEIKA},
            },
            headers=auth,
        )
    ).json()
    before = await counts(api)
    started = time.perf_counter()
    response = await upload(api, auth, created["submissionId"], aid, bad.encode("utf-8"))
    # B4: p2c = 2^31 would take hours if PBES2 ran; a loaded CI box still answers in well under 2 s
    assert time.perf_counter() - started < 2
    assert response.status_code == 400, response.text
    assert response.json()["type"] == OWN + slug
    assert await counts(api) == before
    await upload(api, auth, created["submissionId"], aid, encrypt(key, PDF))
    middle = await counts(api)
    submit = await api.put(
        f"/v1/submissions/{created['submissionId']}", json={"encryptedMetadata": bad}, headers=auth
    )
    assert submit.status_code == 400 and submit.json()["type"] == OWN + slug
    assert await counts(api) == middle


async def test_foreign_kid_is_refused(api: httpx.AsyncClient, stage: Stage) -> None:
    _, auth, _ = stage
    other_portal = bearer(await token(api, "other-portal", "another-s3cr3t-for-tests-0123456789"))
    foreign = await encryption_key(api, other_portal, OTHER)
    created = await api.post(
        "/v1/submissions",
        json={"destinationId": ACTIVE, "serviceType": {"identifier": XBAU_LEIKA}},
        headers=auth,
    )
    response = await api.put(
        f"/v1/submissions/{created.json()['submissionId']}",
        json={"encryptedMetadata": encrypt(foreign, b"{}", cty="application/json")},
        headers=auth,
    )
    assert response.status_code == 400 and response.json()["type"] == OWN + "jwe-unknown-key"


# --- B5: zip: DEF is accepted by intake (FIT-Connect clients send it); inflation is bounded --------


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def test_b5_a_decompression_bomb_is_an_encryption_issue_with_bounded_memory(
    api: httpx.AsyncClient, stage: Stage
) -> None:
    validator, auth, key = stage
    aid = new_id()
    deflated = bomb(1024 * MB)  # 1 GiB of "u", about 1 MB deflated
    assert len(deflated) < 2 * MB
    ref = await send_tokens(
        api,
        auth,
        metadata_token=encrypt(key, metadata(XBAU_SAMPLE, {aid: PDF}, XBAU), cty="application/json"),
        data_token=encrypt(key, XBAU_SAMPLE),
        attachments={aid: seal_raw(key, deflated, zip="DEF", cty="application/pdf")},
    )
    rss = _rss()
    started = time.perf_counter()
    assert (await validator.process(ref["submissionId"])).status == "rejected"
    assert time.perf_counter() - started < 10
    assert _rss() - rss < 64 * MB
    problems = await rejection(api, auth, ref)
    assert slugs(problems) == [("encryption-issue", f"attachment:{aid}")]
    assert problems[0]["detail"] == DecryptionError.MESSAGE


async def test_b5_a_metadata_bomb_stops_at_the_inflation_limit(api: httpx.AsyncClient, stage: Stage) -> None:
    validator, auth, key = stage
    validator.limits.max_inflated_bytes = 16 * MB
    ref = await send_tokens(
        api,
        auth,
        metadata_token=seal_raw(key, bomb(64 * MB), zip="DEF", cty="application/json"),
        data_token=encrypt(key, XBAU_SAMPLE),
    )
    assert (await validator.process(ref["submissionId"])).status == "rejected"
    assert slugs(await rejection(api, auth, ref)) == [("encryption-issue", "metadata")]


# --- B10: tampering that passes intake's shape check: one problem, whatever the cause ----------------


@pytest.mark.parametrize("case", sorted(TAMPERED))
async def test_b10_tampering_is_one_identical_problem(
    api: httpx.AsyncClient, stage: Stage, case: str
) -> None:
    validator, auth, key = stage
    other_portal = bearer(await token(api, "other-portal", "another-s3cr3t-for-tests-0123456789"))
    context = {**key, "other": await encryption_key(api, other_portal, OTHER)}
    data = TAMPERED[case](encrypt(key, XBAU_SAMPLE), encrypt(key, XBAU_SAMPLE), context)
    ref = await send_tokens(
        api,
        auth,
        metadata_token=encrypt(key, metadata(XBAU_SAMPLE, {}, XBAU), cty="application/json"),
        data_token=data,
    )
    assert (await validator.process(ref["submissionId"])).status == "rejected"
    problems = await rejection(api, auth, ref)
    assert problems == [
        {
            "type": "https://schema.fitko.de/fit-connect/events/problems/encryption-issue",
            "title": "Entschlüsselungsfehler",
            "detail": DecryptionError.MESSAGE,
            "instance": "data",
        }
    ]


# --- B14-B16 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"%PDF-1.4 not xml", b'{"json": true}', b"\n"], ids=["pdf", "json", "whitespace"]
)
async def test_b14_content_that_is_not_what_cty_says_is_a_syntax_violation(
    api: httpx.AsyncClient, stage: Stage, content: bytes
) -> None:
    validator, auth, key = stage
    ref = await send(api, auth, key, content, XBAU)
    assert (await validator.process(ref["submissionId"])).status == "rejected"
    assert slugs(await rejection(api, auth, ref)) == [("syntax-violation", "data")]


async def test_b15_a_jwe_for_the_previous_key_is_accepted_after_rotation(
    api: httpx.AsyncClient, stage: Stage
) -> None:
    validator, auth, old_key = stage
    gateway = api.app.state.gateway  # type: ignore[attr-defined]
    gateway.keys.generate(ACTIVE, "encryption")
    await sync_config(gateway.sessions, gateway.settings, gateway.keys)
    assert (await encryption_key(api, auth, ACTIVE))["kid"] != old_key["kid"]
    ref = await send(api, auth, old_key, XBAU_SAMPLE, XBAU)
    assert (await validator.process(ref["submissionId"])).status == "validated"


async def test_b16_a_replayed_jwe_is_another_submission(api: httpx.AsyncClient, stage: Stage) -> None:
    validator, auth, key = stage
    metadata_token = encrypt(key, metadata(XBAU_SAMPLE, {}, XBAU), cty="application/json")
    data_token = encrypt(key, XBAU_SAMPLE)
    first = await send_tokens(api, auth, metadata_token=metadata_token, data_token=data_token)
    second = await send_tokens(api, auth, metadata_token=metadata_token, data_token=data_token)
    assert first["submissionId"] != second["submissionId"] and first["caseId"] != second["caseId"]
    for ref in (first, second):
        assert (await validator.process(ref["submissionId"])).status == "validated"
        assert await status(api, ref["submissionId"]) == "validated"
