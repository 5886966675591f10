"""The validation stage against ciphertext trouble: keys (retired, foreign), the stored blobs
changed after intake (ciphertext, tag, swapped attachments) and a forged event log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from gateway.config.sync import sync_config
from gateway.crypto.b64 import b64url_decode, b64url_encode
from gateway.crypto.jwe import DecryptionError
from gateway.stages.validate import Validator
from gateway.store.models import Attachment, Event
from tests.conftest import ACTIVE, OTHER, XBAU
from tests.helpers import encrypt, new_id
from tests.integration.validator.support import (
    PDF,
    XBAU_SAMPLE,
    metadata,
    public_key,
    rejected_with,
    rejection,
    send,
    send_tokens,
    slugs,
)


async def test_a_retired_encryption_key_still_decrypts(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    gateway = vapi.app.state.gateway  # type: ignore[attr-defined]
    gateway.keys.generate(ACTIVE, "encryption")
    await sync_config(gateway.sessions, gateway.settings, gateway.keys)
    current = await public_key(vapi, auth)
    assert current["kid"] != key["kid"]  # rotated: the old key is retired, not deleted
    aid = new_id()
    ref = await send_tokens(
        vapi,
        auth,
        metadata_token=encrypt(key, metadata(XBAU_SAMPLE, {aid: PDF}, XBAU), cty="application/json"),
        data_token=encrypt(current, XBAU_SAMPLE),
        attachments={aid: encrypt(key, PDF, cty="application/pdf")},
    )
    assert (await validator.process(ref["submissionId"])).status == "validated"


async def test_a_jwe_for_another_key_labelled_with_our_kid_is_an_encryption_issue(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    foreign = await public_key(vapi, auth, OTHER)
    ref = await send_tokens(
        vapi,
        auth,
        metadata_token=encrypt(key, metadata(XBAU_SAMPLE, {}, XBAU), cty="application/json"),
        data_token=encrypt({**foreign, "kid": key["kid"]}, XBAU_SAMPLE),
    )
    problems = await rejection_after(vapi, auth, validator, ref)
    assert slugs(problems) == [("encryption-issue", "data")]
    assert problems[0]["detail"] == DecryptionError.MESSAGE


async def rejection_after(
    vapi: httpx.AsyncClient, auth: dict[str, str], validator: Validator, ref: dict[str, str]
) -> list[dict[str, str]]:
    assert (await validator.process(ref["submissionId"])).status == "rejected"
    return await rejection(vapi, auth, ref)


# --- the stored ciphertext changed after intake ----------------------------------------------------


async def _blob(vapi: httpx.AsyncClient, submission_id: str, attachment_id: str) -> Path:
    gateway = vapi.app.state.gateway  # type: ignore[attr-defined]
    async with gateway.sessions() as session:
        row = await session.get(Attachment, (submission_id, attachment_id))
    return Path(gateway.blobs.path(row.blob))


def _change_segment(path: Path, index: int) -> None:
    parts = path.read_text().split(".")
    raw = bytearray(b64url_decode(parts[index]))
    raw[len(raw) // 2] ^= 0x80
    parts[index] = b64url_encode(bytes(raw))
    path.write_text(".".join(parts))


async def _two_attachments(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any]
) -> tuple[dict[str, str], str, str]:
    first, second = new_id(), new_id()
    ref = await send(vapi, auth, key, XBAU_SAMPLE, XBAU, attachments={first: PDF, second: b"%PDF-1.7 plan"})
    return ref, first, second


async def test_tampered_stored_ciphertext_is_an_encryption_issue(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    ref, first, _ = await _two_attachments(vapi, auth, key)
    _change_segment(await _blob(vapi, ref["submissionId"], first), 3)
    problems = await rejection_after(vapi, auth, validator, ref)
    assert slugs(problems) == [("encryption-issue", f"attachment:{first}")]
    assert problems[0]["detail"] == DecryptionError.MESSAGE


async def test_tampered_stored_tag_is_an_incorrect_authentication_tag(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    ref, first, _ = await _two_attachments(vapi, auth, key)
    _change_segment(await _blob(vapi, ref["submissionId"], first), 4)
    assert await rejected_with(vapi, auth, validator, ref) == [
        ("incorrect-authentication-tag", f"attachment:{first}")
    ]


async def test_swapped_attachments_are_caught_by_their_tags(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    ref, first, second = await _two_attachments(vapi, auth, key)
    a, b = await _blob(vapi, ref["submissionId"], first), await _blob(vapi, ref["submissionId"], second)
    content_a, content_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(content_b)
    b.write_bytes(content_a)
    assert sorted(await rejected_with(vapi, auth, validator, ref)) == sorted(
        [
            ("incorrect-authentication-tag", f"attachment:{first}"),
            ("incorrect-authentication-tag", f"attachment:{second}"),
        ]
    )


async def test_a_submit_event_that_does_not_verify_is_an_invalid_event_log(
    vapi: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], validator: Validator
) -> None:
    ref = await send(vapi, auth, key, XBAU_SAMPLE, XBAU)
    async with vapi.app.state.gateway.sessions.begin() as session:  # type: ignore[attr-defined]
        token = await session.scalar(select(Event.token).where(Event.event == "submit-submission"))
        header, claims, signature = token.split(".")
        forged = json.loads(b64url_decode(claims))
        forged["iat"] += 1
        await session.execute(
            update(Event)
            .where(Event.event == "submit-submission")
            .values(token=f"{header}.{b64url_encode(json.dumps(forged).encode())}.{signature}")
        )
    assert (await validator.process(ref["submissionId"])).status == "rejected"
    log = (await vapi.get(f"/v1/cases/{ref['caseId']}/events", headers=auth)).json()["eventLog"]
    reject = json.loads(b64url_decode(log[2].split(".")[1]))
    problems = reject["events"]["https://schema.fitko.de/fit-connect/events/reject-submission"]["problems"]
    assert slugs(problems) == [("invalid-event-log", "submission")]
