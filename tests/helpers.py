"""What a FIT-Connect sender does, in a few calls, plus inspection of what the gateway stored."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from jwcrypto import jwe, jwk
from sqlalchemy import func, select

from gateway.app import Gateway
from gateway.config.settings import Settings
from gateway.crypto.b64 import b64url_decode
from gateway.crypto.jws import public_key_from_jwk, verify_ps512
from gateway.server import server_config
from gateway.store.models import Attachment, Event, Outbox, Submission
from tests.conftest import LEIKA, SECRET


async def token(api: httpx.AsyncClient, client_id: str = "portal", secret: str = SECRET) -> str:
    response = await api.post(
        "/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def encryption_key(
    api: httpx.AsyncClient, headers: dict[str, str], destination_id: str
) -> dict[str, Any]:
    destination = (await api.get(f"/v1/destinations/{destination_id}", headers=headers)).json()
    response = await api.get(f"/v1/destinations/{destination_id}/keys/{destination['encryptionKid']}")
    return dict(response.json())


def encrypt(public_jwk: dict[str, Any], plaintext: bytes, **header: Any) -> str:
    """A compact JWE as FIT-Connect senders build it; ``header`` overrides the protected header."""
    key = jwk.JWK(**{k: v for k, v in public_jwk.items() if k != "key_ops"})
    protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": public_jwk["kid"], "cty": "application/xml"}
    protected.update(header)
    protected = {k: v for k, v in protected.items() if v is not None}
    return str(jwe.JWE(plaintext, recipient=key, protected=protected).serialize(compact=True))


def metadata_for(
    data: bytes | None,
    attachments: dict[str, bytes],
    schema_uri: str = "",
    mime: str = "application/xml",
    *,
    service: str = LEIKA,
    version: str = "1.0.0",
) -> bytes:
    """Metadata as a sender writes it; ``data=None`` declares no data."""
    content: dict[str, Any] = {
        "attachments": [
            {
                "attachmentId": aid,
                "hash": {"type": "sha512", "content": hashlib.sha512(body).hexdigest()},
                "mimeType": "application/pdf",
                "purpose": "attachment",
            }
            for aid, body in attachments.items()
        ]
    }
    if data is not None:
        content["data"] = {
            "hash": {"type": "sha512", "content": hashlib.sha512(data).hexdigest()},
            "submissionSchema": {"schemaUri": schema_uri, "mimeType": mime},
        }
    doc = {
        "$schema": f"https://schema.fitko.de/fit-connect/metadata/{version}/metadata.schema.json",
        "contentStructure": content,
        "publicServiceType": {"identifier": service, "name": "Baugenehmigung"},
    }
    return json.dumps(doc).encode()


async def create(
    api: httpx.AsyncClient,
    headers: dict[str, str],
    destination_id: str,
    attachments: list[str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {
        "destinationId": destination_id,
        "announcedAttachments": attachments or [],
        "serviceType": {"name": "Baugenehmigung", "identifier": LEIKA},
        **extra,
    }
    return await api.post("/v1/submissions", json=body, headers=headers)


async def upload(
    api: httpx.AsyncClient, headers: dict[str, str], sid: str, aid: str, body: str | bytes
) -> httpx.Response:
    return await api.put(
        f"/v1/submissions/{sid}/attachments/{aid}",
        content=body,
        headers={**headers, "Content-Type": "application/jose"},
    )


def gateway_of(api: httpx.AsyncClient) -> Gateway:
    """The composed gateway behind an in-process client (the fixtures set ``client.app``)."""
    gateway: Gateway = api.app.state.gateway  # type: ignore[attr-defined]
    return gateway


async def counts(api: httpx.AsyncClient) -> dict[str, int]:
    """Rows per table and blob files: the evidence that a rejection stored nothing."""
    gateway = gateway_of(api)
    out: dict[str, int] = {}
    async with gateway.sessions() as session:
        for model in (Submission, Attachment, Event, Outbox):
            out[model.__tablename__] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    out["blobs"] = await asyncio.to_thread(_file_count, gateway.blobs.root)
    return out


def _file_count(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def verify_event_log(
    tokens: list[str],
    jwks: dict[str, Any],
    destination_keys: Callable[[str, str], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Verify every SET: the gateway's against its JWKS, a destination's (``iss`` = its id)
    against the key ``destination_keys(iss, kid)`` returns. Returns the claims in order."""
    gateway_keys = {k["kid"]: public_key_from_jwk(k) for k in jwks["keys"]}
    out = []
    for tok in tokens:
        header = json.loads(b64url_decode(tok.split(".")[0]))
        assert header["typ"] == "secevent+jwt" and header["alg"] == "PS512"
        issuer = json.loads(b64url_decode(tok.split(".")[1]))["iss"]
        if issuer.startswith("http"):
            key = gateway_keys[header["kid"]]
        else:
            assert destination_keys is not None, f"SET issued by destination {issuer}"
            jwk_doc = destination_keys(issuer, header["kid"])
            assert jwk_doc["key_ops"] == ["verify"] and jwk_doc["alg"] == "PS512"
            key = public_key_from_jwk(jwk_doc)
        _, claims = verify_ps512(tok, key)
        assert len(claims["events"]) == 1
        out.append(claims)
    return out


def new_id() -> str:
    return str(uuid.uuid4())


@asynccontextmanager
async def served(app: FastAPI, settings: Settings) -> AsyncIterator[int]:
    """``app`` behind the front door (``gateway.server``, as ``xgw serve`` runs it) on a free
    127.0.0.1 port, until the block ends; yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=port))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "server did not start"
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await serving
