"""Shared by the validator and security tests: a sender that submits through the API, a validator
built from the running app, and readers for the outcome (status, outbox, verified reject SETs)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI
from sqlalchemy import select

from gateway.api.validate import router as validate_router
from gateway.content.problems import slug_of
from gateway.crypto.b64 import b64url_decode, b64url_encode
from gateway.crypto.jws import public_key_from_jwk
from gateway.stages.validate import Validator
from gateway.store.models import Outbox, Submission
from gateway.validation import MetadataSchemas, SchemaCatalogue, default_schema_root
from tests.conftest import ACTIVE, LEIKA
from tests.helpers import encrypt, gateway_of, metadata_for, verify_event_log

metadata = metadata_for  #: re-exported: the validator and security tests import it from here
PROBLEM = "https://schema.fitko.de/fit-connect/events/problems/"
REJECT = "https://schema.fitko.de/fit-connect/events/reject-submission"
PDF = b"%PDF-1.4 antrag " + b"x" * 2000
XBAU_SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "data/corpus/xbau-2.6/samples/made-here/MADE-HERE_minimal_baugenehmigung.antrag.0200.xml"
).read_bytes()


@lru_cache(maxsize=1)
def schemas() -> tuple[SchemaCatalogue, MetadataSchemas]:
    """The real catalogue and metadata schemas, loaded once per test run."""
    root = default_schema_root()
    return SchemaCatalogue.load(root), MetadataSchemas.load(root)


def attach_validator(app: FastAPI) -> Validator:
    """The validator of the running app (built like the composition root will build it), and the
    dry-run route, unless the app already has them."""
    gateway = app.state.gateway
    existing = getattr(gateway, "validator", None)
    if isinstance(existing, Validator):
        return existing
    catalogue, metadata_schemas = schemas()
    validator = Validator(
        gateway.sessions, gateway.blobs, gateway.keys, catalogue, metadata_schemas, gateway.settings.limits
    )
    gateway.validator = validator
    if not any(getattr(route, "path", "") == "/v1/validate" for route in app.router.routes):
        app.include_router(validate_router)
    return validator


def seal_raw(public_jwk: dict[str, Any], payload: bytes, **header: Any) -> str:
    """A compact JWE of ``payload`` exactly as given (e.g. pre-deflated for ``zip: DEF``)."""
    protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": public_jwk["kid"], **header}
    header_seg = b64url_encode(json.dumps(protected).encode())
    cek, iv = os.urandom(32), os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, payload, header_seg.encode())
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = public_key_from_jwk(public_jwk).encrypt(cek, oaep)
    segments = [header_seg, b64url_encode(wrapped), b64url_encode(iv), b64url_encode(sealed[:-16])]
    return ".".join([*segments, b64url_encode(sealed[-16:])])


async def public_key(
    api: httpx.AsyncClient, auth: dict[str, str], destination: str = ACTIVE
) -> dict[str, Any]:
    info = (await api.get(f"/v1/destinations/{destination}", headers=auth)).json()
    return dict((await api.get(f"/v1/destinations/{destination}/keys/{info['encryptionKid']}")).json())


async def send_tokens(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    *,
    metadata_token: str,
    data_token: str | None,
    attachments: dict[str, str] | None = None,
    service: str = LEIKA,
    destination: str = ACTIVE,
    callback: dict[str, str] | None = None,
) -> dict[str, str]:
    """Create, upload, submit; returns the submission reference."""
    attachments = attachments or {}
    body: dict[str, Any] = {
        "destinationId": destination,
        "announcedAttachments": list(attachments),
        "serviceType": {"name": "Baugenehmigung", "identifier": service},
    }
    if callback:
        body["callback"] = callback
    created = await api.post("/v1/submissions", json=body, headers=auth)
    assert created.status_code == 201, created.text
    ref: dict[str, str] = created.json()
    for aid, token in attachments.items():
        response = await api.put(
            f"/v1/submissions/{ref['submissionId']}/attachments/{aid}",
            content=token,
            headers={**auth, "Content-Type": "application/jose"},
        )
        assert response.status_code == 204, response.text
    parts = {"encryptedMetadata": metadata_token, **({"encryptedData": data_token} if data_token else {})}
    submitted = await api.put(f"/v1/submissions/{ref['submissionId']}", json=parts, headers=auth)
    assert submitted.status_code == 200, submitted.text
    return ref


async def send(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    key: dict[str, Any],
    data: bytes | None,
    schema_uri: str = "",
    mime: str = "application/xml",
    *,
    attachments: dict[str, bytes] | None = None,
    meta: bytes | None = None,
    **options: Any,
) -> dict[str, str]:
    """Encrypt and submit like a FIT-Connect sender; ``meta`` replaces the generated metadata."""
    attachments = attachments or {}
    meta = meta if meta is not None else metadata(data, attachments, schema_uri, mime)
    return await send_tokens(
        api,
        auth,
        metadata_token=encrypt(key, meta, cty="application/json"),
        data_token=encrypt(key, data, cty=mime) if data is not None else None,
        attachments={aid: encrypt(key, body, cty="application/pdf") for aid, body in attachments.items()},
        **options,
    )


async def status(api: httpx.AsyncClient, submission_id: str) -> str:
    async with gateway_of(api).sessions() as session:
        submission = await session.get(Submission, submission_id)
        assert submission is not None
        return submission.status


async def outbox(api: httpx.AsyncClient, queue_prefix: str = "") -> list[Outbox]:
    async with api.app.state.gateway.sessions() as session:  # type: ignore[attr-defined]
        rows = await session.scalars(select(Outbox).where(Outbox.queue != "validate").order_by(Outbox.id))
        return [row for row in rows if row.queue.startswith(queue_prefix)]


async def rejection(
    api: httpx.AsyncClient, auth: dict[str, str], ref: dict[str, str]
) -> list[dict[str, str]]:
    """The problems of the case's reject SET, after verifying every SET of the log: the gateway's
    against its JWKS, the reject against the destination's public signing key."""
    tokens = (await api.get(f"/v1/cases/{ref['caseId']}/events", headers=auth)).json()["eventLog"]
    assert len(tokens) == 3, "create, submit, reject"
    kid = json.loads(b64url_decode(tokens[2].split(".")[0]))["kid"]
    signing = (await api.get(f"/v1/destinations/{ref['destinationId']}/keys/{kid}")).json()
    assert signing["key_ops"] == ["verify"] and signing["alg"] == "PS512"
    jwks = (await api.get("/.well-known/jwks.json")).json()

    def destination_key(issuer: str, key_id: str) -> dict[str, Any]:
        assert (issuer, key_id) == (ref["destinationId"], kid)
        return dict(signing)

    claims = verify_event_log(tokens, jwks, destination_key)
    reject = claims[2]
    assert reject["iss"] == ref["destinationId"]
    assert reject["sub"] == f"submission:{ref['submissionId']}" and reject["txn"] == f"case:{ref['caseId']}"
    assert list(reject["events"]) == [REJECT]
    problems: list[dict[str, str]] = reject["events"][REJECT]["problems"]
    for problem in problems:
        assert set(problem) == {"type", "title", "detail", "instance"} and problem["title"]
    return problems


def slugs(problems: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(slug, instance) of each problem, in order."""
    return [(slug_of(p["type"]), p["instance"]) for p in problems]


async def rejected_with(
    api: httpx.AsyncClient, auth: dict[str, str], validator: Validator, ref: dict[str, str]
) -> list[tuple[str, str]]:
    """Run the stage; assert the submission is rejected, nothing queued for delivery, and the
    verified reject SET carries exactly the outcome's problems. Returns (slug, instance) pairs."""
    outcome = await validator.process(ref["submissionId"])
    assert outcome.status == "rejected"
    assert await status(api, ref["submissionId"]) == "rejected"
    problems = await rejection(api, auth, ref)
    assert [p.as_json() for p in outcome.problems] == problems
    assert await outbox(api, "deliver.") == []
    return slugs(problems)
