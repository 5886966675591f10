"""``xgw demo``: one submission's whole path, shown to a first-time user.

Starts the gateway in this process on the embedded default (real uvicorn on 127.0.0.1, SQLite,
the in-process broker, or RabbitMQ when ``XGW_AMQP_URL`` is set), then acts as a FIT-Connect
sender: token, destination, public key, an encrypted PDF attachment, encrypted metadata and XBau
data. It prints each stage as it happens and ends with the delivered package and the verified
event log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import uuid
from importlib import resources
from pathlib import Path

import httpx
import uvicorn

from gateway.app import create_app
from gateway.config.embedded import SCHEMA, SERVICE, with_embedded_tenant
from gateway.config.settings import Settings
from gateway.content.problems import slug_of
from gateway.crypto.b64 import b64url_decode
from gateway.crypto.jwe import encrypt_compact
from gateway.crypto.jws import public_key_from_jwk, verify_ps512
from gateway.server import server_config

EVENTS = "https://schema.fitko.de/fit-connect/events/"
FINAL = {"accept-submission", "reject-submission"}


def _sample(name: str) -> bytes:
    return resources.files("gateway").joinpath("data", name).read_bytes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _step(text: str) -> None:
    print(f"  → {text}", flush=True)


def _metadata(data: bytes, attachment_id: str, pdf: bytes) -> bytes:
    document = {
        "$schema": "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json",
        "contentStructure": {
            "data": {
                "hash": {"type": "sha512", "content": hashlib.sha512(data).hexdigest()},
                "submissionSchema": {"schemaUri": SCHEMA, "mimeType": "application/xml"},
            },
            "attachments": [
                {
                    "attachmentId": attachment_id,
                    "hash": {"type": "sha512", "content": hashlib.sha512(pdf).hexdigest()},
                    "mimeType": "application/pdf",
                    "purpose": "attachment",
                    "filename": "lageplan.pdf",
                }
            ],
        },
        "publicServiceType": {"identifier": SERVICE, "name": "Baugenehmigung beantragen"},
    }
    return json.dumps(document).encode()


async def _send(
    client: httpx.AsyncClient, destination_id: str, client_id: str, secret: str
) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    token = (await client.post("/token", data=form)).raise_for_status().json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    _step(f"sender got an access token for client {client_id}")
    destination = (await client.get(f"/v1/destinations/{destination_id}")).raise_for_status().json()
    key = (await client.get(f"/v1/destinations/{destination_id}/keys/{destination['encryptionKid']}")).json()
    _step(f"destination {destination_id} is {destination['status']}; encryption key {key['kid'][:16]}…")
    data, pdf, attachment_id = (
        _sample("xbau-baugenehmigung-antrag.xml"),
        _sample("lageplan.pdf"),
        str(uuid.uuid4()),
    )
    body = {
        "destinationId": destination_id,
        "announcedAttachments": [attachment_id],
        "serviceType": {"name": "Baugenehmigung beantragen", "identifier": SERVICE},
    }
    ref = (await client.post("/v1/submissions", json=body)).raise_for_status().json()
    _step(f"submission {ref['submissionId']} created (case {ref['caseId']})")
    upload = await client.put(
        f"/v1/submissions/{ref['submissionId']}/attachments/{attachment_id}",
        content=encrypt_compact(key, pdf, "application/pdf"),
        headers={"Content-Type": "application/jose"},
    )
    upload.raise_for_status()
    _step(f"encrypted PDF attachment uploaded ({len(pdf)} bytes plaintext, RSA-OAEP-256 + A256GCM)")
    parts = {
        "encryptedMetadata": encrypt_compact(key, _metadata(data, attachment_id, pdf), "application/json"),
        "encryptedData": encrypt_compact(key, data, "application/xml"),
    }
    (await client.put(f"/v1/submissions/{ref['submissionId']}", json=parts)).raise_for_status()
    _step("encrypted metadata and XBau 2.6 data submitted")
    return dict(ref)


async def _follow(client: httpx.AsyncClient, case_id: str, polls: int) -> list[str]:
    shown = 0
    tokens: list[str] = []
    for _ in range(polls):
        tokens = (await client.get(f"/v1/cases/{case_id}/events")).json()["eventLog"]
        for token in tokens[shown:]:
            claims = json.loads(b64url_decode(token.split(".")[1]))
            ((event, payload),) = claims["events"].items()
            problems = [slug_of(p.get("type", "")) for p in payload.get("problems", [])]
            _step(
                f"event {event.removeprefix(EVENTS)} by {claims['iss']}"
                + (f": {problems}" if problems else "")
            )
        shown = len(tokens)
        if (
            tokens
            and next(iter(json.loads(b64url_decode(tokens[-1].split(".")[1]))["events"])).removeprefix(EVENTS)
            in FINAL
        ):
            break
        await asyncio.sleep(0.1)
    return tokens


async def _verify(client: httpx.AsyncClient, tokens: list[str]) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    gateway_keys = {k["kid"]: k for k in jwks["keys"]}
    for token in tokens:
        header = json.loads(b64url_decode(token.split(".")[0]))
        issuer = json.loads(b64url_decode(token.split(".")[1]))["iss"]
        if issuer.startswith("http"):
            jwk = gateway_keys[header["kid"]]
        else:
            jwk = (await client.get(f"/v1/destinations/{issuer}/keys/{header['kid']}")).json()
        verify_ps512(token, public_key_from_jwk(jwk))
    _step(f"all {len(tokens)} Security Event Tokens verify (gateway JWKS and destination signing key)")


def _show_package(package: Path) -> int:
    if not package.exists():
        print("The submission was not delivered; see the event log above.")
        return 1
    print(f"Delivered package: {package}")
    for path in sorted(package.rglob("*")):
        if path.is_file():
            print(f"    {path.relative_to(package)}  ({path.stat().st_size} bytes)")
    return 0


async def run_demo(settings: Settings, wait_seconds: float = 60.0, port: int | None = None) -> int:
    """Run the walk-through on ``port`` (default: a free one); 0 when the submission ends
    delivered, 1 otherwise."""
    port = port or _free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port, "base_url": None})
    settings, demo = with_embedded_tenant(settings)
    if demo is None:
        print("xgw demo runs on the embedded default: remove the tenants from the configuration")
        return 2
    broker = "RabbitMQ" if settings.amqp_url else "the in-process broker"
    print(
        f"Starting the gateway on {settings.public_url} (data in {settings.data_dir}, {broker})", flush=True
    )
    server = uvicorn.Server(server_config(create_app(settings), settings))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                return 1
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=settings.public_url, timeout=30) as client:
            print("Sending as a FIT-Connect sender:", flush=True)
            ref = await _send(client, demo.destination_id, demo.client.id, demo.client_secret)
            print("Following the event log:", flush=True)
            tokens = await _follow(client, ref["caseId"], int(wait_seconds / 0.1))
            await _verify(client, tokens)
        return await asyncio.to_thread(_show_package, settings.data_dir / "delivered" / ref["submissionId"])
    finally:
        server.should_exit = True
        await serving
