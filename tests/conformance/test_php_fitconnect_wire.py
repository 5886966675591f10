"""A sender speaking FIT-Connect as ``optiGov/php-fitconnect`` does, against a live ``xgw serve``
on its embedded demo tenant: v2 paths, metadata 2.1.0, FIM JSON data, a reply channel and
attachment purposes, ending in ``accept-submission``; the same with metadata 2.0.0, 1.2.0 and
1.0.0; a metadata version the destination does not list is rejected with ``unsupported-schema``.

Provenance. Written in Python from the wire behaviour of php-fitconnect at commit ``8dac2d6``
(github.com/optiGov/php-fitconnect); no code of it is copied:

- ``src/Api/ApiClient.php``: ``POST {token}`` as a form (``client_credentials``, client id and
  secret); ``GET /v2/destinations/{id}`` and ``GET /v2/destinations/{id}/keys`` (the client
  encrypts to ``keys[0]``) with ``Authorization: Bearer`` and ``Accept: application/json``;
  ``POST /v2/submissions`` with ``destinationId``, ``announcedAttachments`` and
  ``publicService {identifier, name}``, answered 2xx; ``PUT
  /v2/submissions/{id}/attachments/{aid}`` with ``Content-Type: application/jose``; ``PUT
  /v2/submissions/{id}`` with ``encryptedMetadata`` and ``encryptedData``; ``GET
  /v2/submissions/{id}/events?limit=100&offset=0`` reading ``eventLog``.
- ``src/Crypto/Encryptor.php``: one compact JWE per part, protected header exactly ``alg
  RSA-OAEP-256``, ``enc A256GCM``, ``kid`` of the key, ``cty application/json`` (for the
  attachments too), no ``zip``.
- ``src/Client/SenderClient.php``: metadata ``$schema`` 2.1.0 with only ``contentStructure``:
  ``data`` (``submissionSchema`` with ``mimeType application/json``, then the SHA-512 ``hash``)
  and ``attachments`` (``filename``, ``purpose``, ``attachmentId``, ``description``,
  ``mimeType``, ``hash``), serialised compactly with unescaped slashes and Unicode; the data
  hashed and encrypted as the exact bytes given.
- ``src/Api/EventLogVerifier.php`` and ``src/Enums/FitConnectEventState.php``: each SET must have
  ``typ secevent+jwt``, ``alg PS512``, a ``kid``, the claims ``jti iss iat sub txn events`` and
  exactly one event; an ``iss`` starting with ``http`` is verified with the gateway's
  ``/.well-known/jwks.json``, any other (a destination id) with ``GET
  /v2/destinations/{iss}/keys/{kid}``; the state is the event URI.

Beyond the client, as the issue asks: the metadata carries a reply channel (``eMail``), the
attachments use the purposes ``form`` and ``attachment``, the 1.x variants carry
``publicServiceType`` in the 1.x structure, and the ``accept-submission`` authentication tags
are compared with the JWEs sent (FIT-Connect's set-creation rule; the PHP client does not).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.adapters.testing import sample_bytes
from gateway.config.embedded import JSON_SCHEMA, JSON_SERVICE
from gateway.crypto.b64 import b64url_decode
from gateway.crypto.jwe import encrypt_compact
from gateway.crypto.jws import public_key_from_jwk, verify_ps512
from gateway.validation import default_schema_root
from tests.conformance.conftest import LiveGateway
from tests.eventually import eventually_sync

EVENTS = "https://schema.fitko.de/fit-connect/events/"
PROBLEMS = "https://schema.fitko.de/fit-connect/events/problems/"
DATA = (
    default_schema_root() / "json" / "fim-hundesteuer-anmeldung-1.0" / "samples" / "valid-maximal.json"
).read_bytes()
SERVICE_NAME = "Hundesteuer: Anmeldung eines Hundes"
REPLY_CHANNEL = {"eMail": {"address": "erika.mustermann@example.org"}}


@dataclass(frozen=True)
class Attachment:
    """An attachment as the PHP client's ``Attachment`` DTO holds it, plus its purpose."""

    filename: str
    content: bytes
    mime_type: str
    purpose: str
    id: str


@dataclass(frozen=True)
class Sent:
    submission_id: str
    case_id: str
    metadata_jwe: str
    data_jwe: str
    attachment_jwes: dict[str, str]


def schema_url(version: str) -> str:
    return f"https://schema.fitko.de/fit-connect/metadata/{version}/metadata.schema.json"


def php_json(document: dict[str, Any]) -> bytes:
    """``json_encode`` with ``JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE``."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def metadata(version: str, data: bytes, attachments: list[Attachment]) -> bytes:
    """The metadata the client writes (its key order), with a reply channel; 1.x in the 1.x structure."""
    document: dict[str, Any] = {
        "$schema": schema_url(version),
        "contentStructure": {
            "data": {
                "submissionSchema": {"schemaUri": JSON_SCHEMA, "mimeType": "application/json"},
                "hash": {"content": hashlib.sha512(data).hexdigest(), "type": "sha512"},
            },
            "attachments": [
                {
                    "filename": a.filename,
                    "purpose": a.purpose,
                    "attachmentId": a.id,
                    "description": a.filename,
                    "mimeType": a.mime_type,
                    "hash": {"type": "sha512", "content": hashlib.sha512(a.content).hexdigest()},
                }
                for a in attachments
            ],
        },
        "replyChannel": REPLY_CHANNEL,
    }
    if version.startswith("1."):
        document["publicServiceType"] = {"identifier": JSON_SERVICE, "name": SERVICE_NAME}
    return php_json(document)


class PhpStyleSender:
    """The requests of php-fitconnect's ``SenderClient``, against one base URL for the token,
    submission and destination endpoints (the gateway serves all three)."""

    def __init__(self, http: httpx.Client, client_id: str, client_secret: str) -> None:
        self.http = http
        self.client_id = client_id
        self.client_secret = client_secret
        self.token = ""

    def authenticate(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        response = self.http.post("/token", data=form)
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def destination(self, destination_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v2/destinations/{destination_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def encryption_key(self, destination_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v2/destinations/{destination_id}/keys", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json()["keys"][0])

    def send(self, destination_id: str, version: str, data: bytes, attachments: list[Attachment]) -> Sent:
        """``SenderClient::sendSubmission``: encrypt everything first, then announce, upload, submit."""
        self.authenticate()
        key = self.encryption_key(destination_id)
        attachment_jwes = {a.id: encrypt_compact(key, a.content, "application/json") for a in attachments}
        metadata_jwe = encrypt_compact(key, metadata(version, data, attachments), "application/json")
        data_jwe = encrypt_compact(key, data, "application/json")
        body = {
            "destinationId": destination_id,
            "announcedAttachments": [a.id for a in attachments],
            "publicService": {"identifier": JSON_SERVICE, "name": SERVICE_NAME},
        }
        announced = self.http.post("/v2/submissions", json=body, headers=self.headers)
        assert 200 <= announced.status_code < 300, announced.text
        submission_id = announced.json()["submissionId"]
        for attachment_id, jwe in attachment_jwes.items():
            upload = self.http.put(
                f"/v2/submissions/{submission_id}/attachments/{attachment_id}",
                content=jwe,
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/jose"},
            )
            assert 200 <= upload.status_code < 300, upload.text
        parts = {"encryptedMetadata": metadata_jwe, "encryptedData": data_jwe}
        submitted = self.http.put(f"/v2/submissions/{submission_id}", json=parts, headers=self.headers)
        assert 200 <= submitted.status_code < 300, submitted.text
        return Sent(submission_id, announced.json()["caseId"], metadata_jwe, data_jwe, attachment_jwes)

    def events(self, submission_id: str) -> list[str]:
        response = self.http.get(
            f"/v2/submissions/{submission_id}/events",
            params={"limit": 100, "offset": 0},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        return list(response.json().get("eventLog", []))

    def verified(self, token: str) -> dict[str, Any]:
        """``EventLogVerifier::verify``: the claims of a SET whose signature verifies."""
        header_segment, payload_segment, _ = token.split(".")
        header = json.loads(b64url_decode(header_segment))
        assert header.get("typ") == "secevent+jwt", header
        assert header.get("alg") == "PS512", header
        assert isinstance(header.get("kid"), str), header
        claims = json.loads(b64url_decode(payload_segment))
        assert {"jti", "iss", "iat", "sub", "txn", "events"} <= set(claims), claims
        assert isinstance(claims["events"], dict) and len(claims["events"]) == 1, claims
        issuer = claims["iss"]
        assert isinstance(issuer, str)
        if issuer.startswith("http"):
            jwks = self.http.get("/.well-known/jwks.json").json()["keys"]
            (jwk,) = [k for k in jwks if k.get("kid") == header["kid"]]
        else:
            response = self.http.get(f"/v2/destinations/{issuer}/keys/{header['kid']}", headers=self.headers)
            assert response.status_code == 200, response.text
            jwk = response.json()
        _, verified = verify_ps512(token, public_key_from_jwk(jwk))
        return verified

    def states(self, submission_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(event name, payload) of every SET of the submission, each verified."""
        out = []
        for token in self.events(submission_id):
            claims = self.verified(token)
            ((event, payload),) = claims["events"].items()
            assert claims["sub"] == f"submission:{submission_id}"
            out.append((str(event).removeprefix(EVENTS), payload))
        return out


def attachments() -> list[Attachment]:
    """The generated form PDF and one uploaded by the citizen (the purposes ``form``, ``attachment``)."""
    pdf = sample_bytes("lageplan.pdf")
    return [
        Attachment("antrag.pdf", pdf, "application/pdf", "form", str(uuid.uuid4())),
        Attachment("impfausweis.pdf", pdf + b"\n%impf", "application/pdf", "attachment", str(uuid.uuid4())),
    ]


@pytest.fixture
def sender(live_gateway: LiveGateway) -> Any:
    with httpx.Client(
        base_url=live_gateway.base_url, headers={"User-Agent": "GuzzleHttp/7"}, timeout=30
    ) as http:
        yield PhpStyleSender(http, live_gateway.client_id, live_gateway.client_secret)


def final_states(sender: PhpStyleSender, submission_id: str) -> list[tuple[str, dict[str, Any]]]:
    def settled() -> list[tuple[str, dict[str, Any]]] | None:
        states = sender.states(submission_id)
        return states if states and states[-1][0] in {"accept-submission", "reject-submission"} else None

    return eventually_sync(settled, within=60, interval=0.2, what="accept or reject in the event log")


def tag(jwe: str) -> str:
    return jwe.rsplit(".", 1)[1]


@pytest.mark.parametrize("version", ["2.1.0", "2.0.0", "1.2.0", "1.0.0"])
def test_a_php_fitconnect_style_sender_ends_in_accept_submission(
    live_gateway: LiveGateway, sender: PhpStyleSender, version: str
) -> None:
    sender.authenticate()
    destination = sender.destination(live_gateway.destination_id)
    assert destination["status"] == "active"
    assert version in destination["metadataVersions"]
    offered = {s["identifier"]: s for s in destination["publicServices"]}
    assert {"schemaUri": JSON_SCHEMA, "mimeType": "application/json"} in offered[JSON_SERVICE][
        "submissionSchemas"
    ]
    assert "eMail" in destination["replyChannels"]
    files = attachments()

    sent = sender.send(live_gateway.destination_id, version, DATA, files)

    states = final_states(sender, sent.submission_id)
    assert [name for name, _ in states] == ["create-submission", "submit-submission", "accept-submission"]
    expected_tags = {
        "metadata": tag(sent.metadata_jwe),
        "data": tag(sent.data_jwe),
        "attachments": {aid: tag(jwe) for aid, jwe in sent.attachment_jwes.items()},
    }
    assert states[1][1]["authenticationTags"] == expected_tags
    assert states[2][1]["authenticationTags"] == expected_tags

    package = live_gateway.workdir / "xgw-data" / "delivered" / sent.submission_id
    eventually_sync((package / "manifest.json").is_file, within=30, interval=0.2, what="the package")
    assert (package / "data.json").read_bytes() == DATA
    delivered = json.loads((package / "metadata.json").read_bytes())
    assert delivered["$schema"] == schema_url(version)
    assert delivered["replyChannel"] == REPLY_CHANNEL
    assert [a["purpose"] for a in delivered["contentStructure"]["attachments"]] == ["form", "attachment"]


def test_a_metadata_version_the_destination_does_not_list_is_rejected_as_unsupported_schema(
    live_gateway: LiveGateway, sender: PhpStyleSender
) -> None:
    sender.authenticate()
    unlisted = "1.4.0"
    assert unlisted not in sender.destination(live_gateway.destination_id)["metadataVersions"]

    sent = sender.send(live_gateway.destination_id, unlisted, DATA, attachments())

    states = final_states(sender, sent.submission_id)
    assert [name for name, _ in states] == ["create-submission", "submit-submission", "reject-submission"]
    (problem,) = states[-1][1]["problems"]
    assert problem["type"] == PROBLEMS + "unsupported-schema"
    assert problem["instance"] == "metadata"
    assert "1.4.0" in problem["detail"]
