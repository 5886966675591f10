"""A FIT-Connect sender for tests: the shipped XBau sample with its PDF, encrypted and submitted.

:func:`sample_submission` is the plaintext a sender starts from (``gateway/data``);
:meth:`SampleSubmission.encrypt` turns it into the JWEs for a destination's public key, and
:class:`Sender` sends it through a gateway's Submission API (in process or over a socket) and reads
the case's event log::

    sender = Sender(httpx.AsyncClient(base_url="http://127.0.0.1:8080"), "portal", secret)
    sent = await sender.submit(destination_id, sample_submission())
    assert "accept-submission" in await sender.events(sent.case_id)
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway.adapters.testing import LEIKA_BAUGENEHMIGUNG, XBAU_SCHEMA_URI, sample_bytes
from gateway.crypto.b64 import b64url_decode
from gateway.crypto.jwe import encrypt_compact

__all__ = ["EncryptedSubmission", "SampleSubmission", "Sender", "Sent", "sample_submission"]

METADATA_SCHEMA = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"
EVENTS = "https://schema.fitko.de/fit-connect/events/"


@dataclass(frozen=True)
class EncryptedSubmission:
    """The compact JWEs a sender uploads: metadata, data and each attachment by id."""

    metadata: str
    data: str
    attachments: Mapping[str, str]


@dataclass(frozen=True)
class SampleSubmission:
    """A submission in plaintext: XÖV data, PDF attachments (id → content) and the service."""

    data: bytes
    attachments: Mapping[str, bytes]
    service: str = LEIKA_BAUGENEHMIGUNG
    service_name: str = "Baugenehmigung"
    schema_uri: str = XBAU_SCHEMA_URI
    filenames: Mapping[str, str] = field(default_factory=dict)  #: attachment id → file name

    def metadata(self) -> bytes:
        """The FIT-Connect metadata (1.0.0) with the SHA-512 of the data and every attachment."""
        document = {
            "$schema": METADATA_SCHEMA,
            "contentStructure": {
                "data": {
                    "hash": {"type": "sha512", "content": hashlib.sha512(self.data).hexdigest()},
                    "submissionSchema": {"schemaUri": self.schema_uri, "mimeType": "application/xml"},
                },
                "attachments": [
                    {
                        "attachmentId": attachment_id,
                        "hash": {"type": "sha512", "content": hashlib.sha512(content).hexdigest()},
                        "mimeType": "application/pdf",
                        "purpose": "attachment",
                        **({"filename": name} if (name := self.filenames.get(attachment_id)) else {}),
                    }
                    for attachment_id, content in self.attachments.items()
                ],
            },
            "publicServiceType": {"identifier": self.service, "name": self.service_name},
        }
        return json.dumps(document).encode()

    def encrypt(self, public_jwk: Mapping[str, Any]) -> EncryptedSubmission:
        """The JWEs for the destination's encryption key ``public_jwk`` (RSA-OAEP-256, A256GCM)."""
        return EncryptedSubmission(
            metadata=encrypt_compact(public_jwk, self.metadata(), "application/json"),
            data=encrypt_compact(public_jwk, self.data, "application/xml"),
            attachments={
                attachment_id: encrypt_compact(public_jwk, content, "application/pdf")
                for attachment_id, content in self.attachments.items()
            },
        )


def sample_submission(attachments: int = 1) -> SampleSubmission:
    """The XBau 2.6 building-permit application with ``attachments`` copies of the site plan PDF."""
    ids = [str(uuid.uuid4()) for _ in range(attachments)]
    pdf = sample_bytes("lageplan.pdf")
    return SampleSubmission(
        data=sample_bytes("xbau-baugenehmigung-antrag.xml"),
        attachments=dict.fromkeys(ids, pdf),
        filenames={attachment_id: f"lageplan-{n}.pdf" for n, attachment_id in enumerate(ids, start=1)},
    )


@dataclass(frozen=True)
class Sent:
    """A submitted submission's ids."""

    submission_id: str
    case_id: str


class Sender:
    """A sender client (``client_id``, ``secret``) talking to the gateway behind ``api``."""

    def __init__(self, api: httpx.AsyncClient, client_id: str, secret: str) -> None:
        self.api = api
        self.client_id = client_id
        self.secret = secret
        self._headers: dict[str, str] = {}

    async def _auth(self) -> dict[str, str]:
        if not self._headers:
            form = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.secret,
            }
            token = (await self.api.post("/token", data=form)).raise_for_status().json()["access_token"]
            self._headers = {"Authorization": f"Bearer {token}"}
        return self._headers

    async def submit(self, destination_id: str, sample: SampleSubmission) -> Sent:
        """Create, upload and submit ``sample``, encrypted for the destination's current key.

        Raises ``httpx.HTTPStatusError`` when the gateway refuses a step.
        """
        auth = await self._auth()
        destination = f"/v1/destinations/{destination_id}"
        kid = (await self.api.get(destination, headers=auth)).raise_for_status().json()["encryptionKid"]
        key = (await self.api.get(f"{destination}/keys/{kid}")).raise_for_status().json()
        sealed = sample.encrypt(key)
        body = {
            "destinationId": destination_id,
            "announcedAttachments": list(sealed.attachments),
            "serviceType": {"identifier": sample.service, "name": sample.service_name},
        }
        ref = (await self.api.post("/v1/submissions", json=body, headers=auth)).raise_for_status().json()
        submission = f"/v1/submissions/{ref['submissionId']}"
        for attachment_id, jwe in sealed.attachments.items():
            upload = await self.api.put(
                f"{submission}/attachments/{attachment_id}",
                content=jwe,
                headers={**auth, "Content-Type": "application/jose"},
            )
            upload.raise_for_status()
        parts = {"encryptedMetadata": sealed.metadata, "encryptedData": sealed.data}
        (await self.api.put(submission, json=parts, headers=auth)).raise_for_status()
        return Sent(ref["submissionId"], ref["caseId"])

    async def events(self, case_id: str) -> list[str]:
        """The names of the case's events in order, e.g. ``submit-submission``, ``accept-submission``."""
        response = await self.api.get(f"/v1/cases/{case_id}/events", headers=await self._auth())
        names = []
        for token in response.raise_for_status().json()["eventLog"]:
            claims = json.loads(b64url_decode(token.split(".")[1]))
            names += [str(name).removeprefix(EVENTS) for name in claims["events"]]
        return names
