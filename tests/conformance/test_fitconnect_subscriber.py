"""The FIT-Connect subscriber API against a live ``xgw serve``: FITKO's early Python SDK
``fitconnect==0.4.2`` in its subscriber role, unmodified except for its base URLs, lists and
retrieves a submission re-encrypted to the Fachverfahren's own key and accepts (or rejects) it
with a SET posted through the same client; the sender's event log then verifies and ends in the
outcome. A subscriber client sees only its own destinations; bad SETs are refused with problems.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fitconnect import fitconnect as sdk
from jwcrypto import jwk, jwt

from gateway.app import create_app
from gateway.config.embedded import JSON_SCHEMA, JSON_SERVICE
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyPair, KeyStore, generate_key_pair
from gateway.crypto.secrets import hash_secret
from gateway.server import server_config
from tests.eventually import eventually_sync
from tests.helpers import verify_event_log

EVENTS = "https://schema.fitko.de/fit-connect/events/"
SET_SCHEMA = "https://schema.fitko.de/fit-connect/set-payload/1.2.2/set-payload.schema.json"
OWN_PROBLEM = "urn:xoev-gateway:problem:"
DOG = {"schemaUri": JSON_SCHEMA, "mimeType": "application/json"}
SENDER, SUBSCRIBER, OTHER_SUBSCRIBER = "portal", "fachverfahren-a", "fachverfahren-b"


@dataclass(frozen=True)
class Live:
    base_url: str
    destination: str  #: bound to SUBSCRIBER
    other_destination: str  #: bound to OTHER_SUBSCRIBER
    secrets: dict[str, str]
    decryption_key: dict[str, Any]  #: the Fachverfahren's private encryption JWK
    signing: KeyPair  #: the Fachverfahren's signing key
    stranger: KeyPair  #: a signing key nobody registered


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _destination(dest_id: str, client: str, secret: str, enc: KeyPair, sig: KeyPair) -> str:
    subscriber = {
        "client_id": client,
        "secret_hash": hash_secret(secret),
        "encryption_key": enc.public_jwk,
        "signing_key": sig.public_jwk,
    }
    return f"""
[[tenants.destinations]]
id = "{dest_id}"
name = "Fachverfahren {client}"
[[tenants.destinations.services]]
identifier = "{JSON_SERVICE}"
name = "Hundesteuer"
regions = ["064350014014"]
submission_schemas = [{{ schema_uri = "{JSON_SCHEMA}", mime_type = "application/json" }}]
[tenants.destinations.subscriber]
{chr(10).join(f"{k} = {_toml(v)}" for k, v in subscriber.items())}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("subscriber")
    data = workdir / "data"
    keys = KeyStore(data / "keys")
    destination, other = str(uuid.uuid4()), str(uuid.uuid4())
    for dest in (destination, other):
        keys.generate(dest, "encryption")
        keys.generate(dest, "signing")
    enc, sig = generate_key_pair("encryption", "fv"), generate_key_pair("signing", "fv")
    stranger = generate_key_pair("signing", "stranger")
    secrets = {name: f"{name}-secret-{uuid.uuid4().hex}" for name in (SENDER, SUBSCRIBER, OTHER_SUBSCRIBER)}
    config = workdir / "xgw.toml"
    config.write_text(
        f'data_dir = "{data}"\n\n[[tenants]]\nid = "musterstadt"\n'
        + _destination(destination, SUBSCRIBER, secrets[SUBSCRIBER], enc, sig)
        + _destination(other, OTHER_SUBSCRIBER, secrets[OTHER_SUBSCRIBER], enc, sig)
        + f'\n[[clients]]\nid = "{SENDER}"\nsecret_hash = "{hash_secret(secrets[SENDER])}"\n'
        + f'destinations = ["{destination}", "{other}"]\n'
    )
    settings = Settings.load(config)
    app = create_app(settings)
    server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=0))
    with socket.socket() as sock:  # the gateway in this process, so coverage sees it
        sock.bind(("127.0.0.1", 0))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        private = jwk.JWK.from_pyca(enc.private_key).export(as_dict=True) | {"kid": enc.kid}
        try:
            eventually_sync(lambda: server.started or not thread.is_alive(), within=60, what="gateway up")
            assert server.started, "the gateway did not start"
            yield Live(base_url, destination, other, secrets, private, sig, stranger)
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def sdk_client(live: Live, client_id: str, monkeypatch: pytest.MonkeyPatch) -> sdk.FITConnectClient:
    urls = {"TOKEN_URL": f"{live.base_url}/token", "SUBMISSION_API_URL": f"{live.base_url}/v1"}
    monkeypatch.setitem(sdk._ENVIRONMENT_CONFIG, sdk.Environment.TESTING, urls)
    return sdk.FITConnectClient(sdk.Environment.TESTING, client_id, live.secrets[client_id])


def sample(name: str) -> bytes:
    return resources.files("gateway").joinpath("data", name).read_bytes()


DOG_DATA = (
    Path(__file__).parents[2] / "schemas/json/fim-hundesteuer-anmeldung-1.0/samples/valid-minimal.json"
).read_text()


def send(sender: sdk.FITConnectClient, destination: str) -> dict[str, str]:
    """A submission as the SDK sends it: JSON data and one attachment."""
    return dict(
        sender.submission(
            destination,
            JSON_SERVICE,
            data=DOG_DATA,
            data_schema=dict(DOG),
            attachments=[sample("lageplan.pdf")],
        )
    )


def waiting(subscriber: sdk.FITConnectClient, submission_id: str) -> dict[str, str]:
    def listed() -> dict[str, str] | None:
        return next(
            (s for s in subscriber.available_submissions() if s["submissionId"] == submission_id), None
        )

    return eventually_sync(listed, within=60, interval=0.3, what="the submission waiting for pickup")


def tags_fetched(subscriber: sdk.FITConnectClient, submission_id: str) -> dict[str, Any]:
    """The authentication tags of the parts as the subscriber fetched them (5th JWE segments)."""
    body = subscriber._authorized_get(f"/submissions/{submission_id}").json()
    attachments = {
        aid: subscriber._authorized_get(f"/submissions/{submission_id}/attachments/{aid}").text.split(".")[4]
        for aid in body["attachments"]
    }
    return {
        "metadata": body["encryptedMetadata"].split(".")[4],
        "data": body["encryptedData"].split(".")[4],
        "attachments": attachments,
    }


def build_set(
    key: KeyPair, iss: str, submission_id: str, case_id: str, event: str, payload: dict[str, Any]
) -> str:
    """A SET as FIT-Connect prescribes it (PS512, secevent+jwt, the signing key's kid)."""
    claims = {
        "$schema": SET_SCHEMA,
        "jti": str(uuid.uuid4()),
        "iss": iss,
        "iat": int(time.time()),
        "sub": f"submission:{submission_id}",
        "txn": f"case:{case_id}",
        "events": {EVENTS + event: payload},
    }
    token = jwt.JWT(header={"alg": "PS512", "typ": "secevent+jwt", "kid": key.kid}, claims=claims)
    token.make_signed_token(jwk.JWK.from_pyca(key.private_key))
    return str(token.serialize())


def sender_log(live: Live, case_id: str) -> list[dict[str, Any]]:
    form = {"grant_type": "client_credentials", "client_id": SENDER, "client_secret": live.secrets[SENDER]}
    token = httpx.post(f"{live.base_url}/token", data=form).json()["access_token"]
    response = httpx.get(
        f"{live.base_url}/v1/cases/{case_id}/events", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    jwks = httpx.get(f"{live.base_url}/.well-known/jwks.json").json()

    def key(destination_id: str, kid: str) -> dict[str, Any]:
        return dict(httpx.get(f"{live.base_url}/v1/destinations/{destination_id}/keys/{kid}").json())

    return verify_event_log(response.json()["eventLog"], jwks, key)


def names(claims: list[dict[str, Any]]) -> list[str]:
    return [next(iter(c["events"])).removeprefix(EVENTS) for c in claims]


def test_sdk_subscriber_retrieves_decrypts_and_accepts_and_the_sender_log_ends_in_accept(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = send(sdk_client(live, SENDER, monkeypatch), live.destination)
    subscriber = sdk_client(live, SUBSCRIBER, monkeypatch)
    listed = waiting(subscriber, sent["submissionId"])
    assert listed == {k: sent[k] for k in ("destinationId", "submissionId", "caseId")}

    got = subscriber.retrieve_submission(sent["submissionId"], live.decryption_key)

    assert got["data_json"] == json.loads(DOG_DATA)
    assert list(got["attachments"].values()) == [sample("lageplan.pdf")]
    assert got["metadata"]["contentStructure"]["data"]["submissionSchema"] == DOG
    tags = tags_fetched(subscriber, sent["submissionId"])
    accept = build_set(
        live.signing,
        live.destination,
        sent["submissionId"],
        sent["caseId"],
        "accept-submission",
        {"authenticationTags": tags},
    )
    answered = subscriber._authorized_post(f"/cases/{sent['caseId']}/events", data=accept)
    assert answered.status_code == 204, answered.text

    claims = sender_log(live, sent["caseId"])
    assert names(claims) == [
        "create-submission",
        "submit-submission",
        "notify-submission",
        "accept-submission",
    ]
    submitted = claims[1]["events"][EVENTS + "submit-submission"]["authenticationTags"]
    assert claims[-1]["iss"] == live.destination
    assert claims[-1]["events"][EVENTS + "accept-submission"]["authenticationTags"] == submitted
    assert submitted != tags  # the sender's own tags, not those of the re-encrypted parts
    assert sent["submissionId"] not in [s["submissionId"] for s in subscriber.available_submissions()]


def test_a_reject_passes_the_subscribers_problems_on_to_the_sender(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = send(sdk_client(live, SENDER, monkeypatch), live.destination)
    subscriber = sdk_client(live, SUBSCRIBER, monkeypatch)
    waiting(subscriber, sent["submissionId"])
    subscriber.retrieve_submission(sent["submissionId"], live.decryption_key)
    problems = [
        {
            "type": EVENTS + "problems/schema-violation",
            "title": "Schema-Fehler",
            "detail": "Das Feld hund.chipnummer fehlt.",
            "instance": "data",
        }
    ]
    reject = build_set(
        live.signing,
        live.destination,
        sent["submissionId"],
        sent["caseId"],
        "reject-submission",
        {"problems": problems},
    )
    assert subscriber._authorized_post(f"/cases/{sent['caseId']}/events", data=reject).status_code == 204

    claims = sender_log(live, sent["caseId"])
    assert names(claims)[-2:] == ["notify-submission", "reject-submission"]
    assert claims[-1]["events"][EVENTS + "reject-submission"] == {"problems": problems}


def problem_of(response: httpx.Response | Any) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["type"])


def test_a_subscriber_sees_only_its_destinations_and_bad_sets_are_refused(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = sdk_client(live, SENDER, monkeypatch)
    mine, theirs = send(sender, live.destination), send(sender, live.other_destination)
    subscriber, other = (
        sdk_client(live, SUBSCRIBER, monkeypatch),
        sdk_client(live, OTHER_SUBSCRIBER, monkeypatch),
    )
    waiting(subscriber, mine["submissionId"])
    waiting(other, theirs["submissionId"])
    assert theirs["submissionId"] not in [s["submissionId"] for s in subscriber.available_submissions()]
    foreign = subscriber._authorized_get(f"/submissions/{theirs['submissionId']}")
    assert foreign.status_code == 404
    assert (
        problem_of(foreign)
        == "https://schema.fitko.de/fit-connect/submission-api/problems/submission-not-found"
    )
    sender_token = sender._get_access_token(SENDER, live.secrets[SENDER])
    as_sender = httpx.get(
        f"{live.base_url}/v1/submissions", headers={"Authorization": f"Bearer {sender_token}"}
    )
    assert as_sender.status_code == 401

    sid, cid = mine["submissionId"], mine["caseId"]
    tags = tags_fetched(subscriber, sid)
    accept = {"authenticationTags": tags}
    wrong_tags = {"authenticationTags": {**tags, "data": tags["metadata"]}}
    refused = {
        "event-signature-invalid": build_set(
            live.stranger, live.destination, sid, cid, "accept-submission", accept
        ),
        "authentication-tags-mismatch": build_set(
            live.signing, live.destination, sid, cid, "accept-submission", wrong_tags
        ),
        "event-case-mismatch": build_set(
            live.signing,
            live.destination,
            theirs["submissionId"],
            theirs["caseId"],
            "accept-submission",
            accept,
        ),
        "problems-invalid": build_set(
            live.signing, live.destination, sid, cid, "reject-submission", {"problems": []}
        ),
    }
    for slug, token in refused.items():
        response = subscriber._authorized_post(f"/cases/{cid}/events", data=token)
        assert response.status_code == 422, (slug, response.text)
        assert problem_of(response) == OWN_PROBLEM + slug
    not_mine = subscriber._authorized_post(
        f"/cases/{theirs['caseId']}/events", data=refused["event-case-mismatch"]
    )
    assert (not_mine.status_code, problem_of(not_mine)) == (404, OWN_PROBLEM + "case-not-found")
    assert names(sender_log(live, cid))[-1] == "notify-submission"  # nothing refused reached the sender
