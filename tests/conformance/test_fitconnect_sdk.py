"""FITKO's early Python SDK ``fitconnect==0.4.2``, unmodified except for its base URLs, against a
live gateway: create with an attachment, upload, submit XÖV XML, read a verifiable event log.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
import requests
from fitconnect import fitconnect as sdk

from tests.conformance.conftest import LiveGateway, live_keys
from tests.eventually import eventually_sync
from tests.helpers import verify_event_log

LEIKA = "urn:de:fim:leika:leistung:99066006001000"
XBAU = {"schemaUri": "urn:xoev-de:bmk:standard:xbau_2.6", "mimeType": "application/xml"}


def sample(name: str) -> bytes:
    return resources.files("gateway").joinpath("data", name).read_bytes()


@pytest.fixture
def client(live_gateway: LiveGateway, monkeypatch: pytest.MonkeyPatch) -> sdk.FITConnectClient:
    urls = {
        "TOKEN_URL": f"{live_gateway.base_url}/token",
        "SUBMISSION_API_URL": f"{live_gateway.base_url}/v1",
    }
    monkeypatch.setitem(sdk._ENVIRONMENT_CONFIG, sdk.Environment.TESTING, urls)
    return sdk.FITConnectClient(sdk.Environment.TESTING, live_gateway.client_id, live_gateway.client_secret)


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Records what the SDK PUTs (it still goes to the network unchanged)."""
    sent: list[dict[str, Any]] = []
    real_put = requests.put

    def recording_put(url: str, **kwargs: Any) -> requests.Response:
        sent.append({"url": url, **kwargs})
        return real_put(url, **kwargs)

    monkeypatch.setattr(sdk.requests, "put", recording_put)
    yield sent


def event_log(live: LiveGateway, case_id: str) -> list[dict[str, Any]]:
    token = httpx.post(
        f"{live.base_url}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": live.client_id,
            "client_secret": live.client_secret,
        },
    ).json()["access_token"]
    log = httpx.get(
        f"{live.base_url}/v1/cases/{case_id}/events", headers={"Authorization": f"Bearer {token}"}
    )
    assert log.status_code == 200, log.text
    jwks = httpx.get(f"{live.base_url}/.well-known/jwks.json").json()
    return verify_event_log(log.json()["eventLog"], jwks, live_keys(live))


def test_sdk_sends_xbau_with_attachment_and_reads_verifiable_log(
    live_gateway: LiveGateway, client: sdk.FITConnectClient, wire: list[dict[str, Any]]
) -> None:
    result = client.submission(
        live_gateway.destination_id,
        LEIKA,
        data=sample("xbau-baugenehmigung-antrag.xml").decode("utf-8"),
        data_schema=dict(XBAU),
        attachments=[sample("lageplan.pdf")],
    )
    assert set(result) == {"destinationId", "submissionId", "caseId"}
    claims = event_log(live_gateway, result["caseId"])
    names = [next(iter(c["events"])).rsplit("/", 1)[1] for c in claims]
    assert names[:2] == ["create-submission", "submit-submission"]
    tags = claims[1]["events"]["https://schema.fitko.de/fit-connect/events/submit-submission"][
        "authenticationTags"
    ]
    attachment_put, submit_put = wire
    attachment_id = attachment_put["url"].rsplit("/", 1)[1]
    assert tags["attachments"] == {attachment_id: attachment_put["data"].split(".")[4]}
    assert tags["metadata"] == submit_put["json"]["encryptedMetadata"].split(".")[4]
    assert tags["data"] == submit_put["json"]["encryptedData"].split(".")[4]

    # validated, then delivered by the embedded default's filesystem adapter
    def accepted() -> dict[str, Any]:
        claims = event_log(live_gateway, result["caseId"])
        names = [next(iter(c["events"])).rsplit("/", 1)[1] for c in claims]
        assert names == ["create-submission", "submit-submission", "accept-submission"]
        return claims[-1]

    accept = eventually_sync(accepted, within=30, interval=0.2, what="the accept-submission event")
    assert accept["iss"] == live_gateway.destination_id
    assert (
        accept["events"]["https://schema.fitko.de/fit-connect/events/accept-submission"]["authenticationTags"]
        == tags
    )
    package = live_gateway.workdir / "xgw-data" / "delivered" / result["submissionId"]
    assert (package / "manifest.json").is_file()


def test_sdk_quirks_get_the_zustelldienst_answer(
    live_gateway: LiveGateway, client: sdk.FITConnectClient
) -> None:
    # The SDK encrypts with kid = RFC 7638 thumbprint and zip: DEF: accepted, because the
    # gateway's kids are thumbprints and DEF is tolerated on receipt (inflation bounded later).
    token = client.encrypt(live_gateway.destination_id, b"probe")
    header = sdk.jwe.JWE()
    header.deserialize(token)
    assert header.jose_header["zip"] == "DEF"
    # With two attachments it announces the same uuid twice: rejected, as ids must be unique.
    with pytest.raises(ValueError, match="attachment-ids-not-unique"):
        client.submission(
            live_gateway.destination_id,
            LEIKA,
            data="<x/>",
            data_schema=dict(XBAU),
            attachments=[b"%PDF-1.4 a", b"%PDF-1.4 b"],
        )
