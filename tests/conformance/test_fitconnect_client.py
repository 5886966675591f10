"""The third-party ``fitconnect-client==0.1.3``, unmodified except for its base URLs, against a live
gateway: create with an attachment, upload, submit, read a verifiable event log (via v2 by id).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import httpx
import pytest
from fitconnect_client import Attachment, Environment, FitconnectClient
from fitconnect_client.environment import ENV_CONFIG

from tests.conformance.conftest import LiveGateway, live_keys
from tests.helpers import verify_event_log

LEIKA = "urn:de:fim:leika:leistung:99066006001000"


@pytest.fixture
def client(live_gateway: LiveGateway, monkeypatch: pytest.MonkeyPatch) -> FitconnectClient:
    urls = {
        "OAUTH_ENDPOINT": f"{live_gateway.base_url}/token",
        "SUBMISSION_API": f"{live_gateway.base_url}/v1",
    }
    monkeypatch.setitem(ENV_CONFIG, Environment.TESTING, urls)
    return FitconnectClient(Environment.TESTING, live_gateway.client_id, live_gateway.client_secret)


def test_client_sends_attachment_and_reads_verifiable_log(
    live_gateway: LiveGateway, client: FitconnectClient, tmp_path: Path
) -> None:
    pdf = tmp_path / "lageplan.pdf"
    pdf.write_bytes(resources.files("gateway").joinpath("data", "lageplan.pdf").read_bytes())
    client.obtain_access_token()
    attachment = Attachment(str(pdf), description="Lageplan")
    submission = client.create_submission(live_gateway.destination_id, LEIKA, "Baugenehmigung", [attachment])
    metadata = FitconnectClient.create_metadata(
        "2026-11-28",
        "AZ-2026-0815",
        "urn:xoev-de:bmk:standard:xbau_2.6",
        "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json",
        "antrag@example.org",
        attachments=[attachment],
    )
    # The client sends no encryptedData (optional in v1) and typ: JWE in its headers: accepted.
    answer = client.send_submission(submission, metadata)
    assert answer["submissionId"] == submission.submission_id

    headers = {"Authorization": f"Bearer {client.access_token}"}
    log = httpx.get(
        f"{live_gateway.base_url}/v2/submissions/{submission.submission_id}/events", headers=headers
    )
    assert log.status_code == 200, log.text
    jwks = httpx.get(f"{live_gateway.base_url}/.well-known/jwks.json").json()
    claims = verify_event_log(log.json()["eventLog"], jwks, live_keys(live_gateway))
    submit = claims[1]["events"]["https://schema.fitko.de/fit-connect/events/submit-submission"]
    assert set(submit["authenticationTags"]) == {"metadata", "attachments"}
    assert list(submit["authenticationTags"]["attachments"]) == [attachment.id]
