"""Send a first submission to a running gateway as a FIT-Connect sender would.

Uses FITKO's early Python SDK (``pip install fitconnect==0.4.2``, part of the ``test`` extra) with
its base URLs pointed at the gateway. Give it what ``xgw serve`` printed:

    python examples/first_submission.py http://127.0.0.1:8080 DESTINATION_ID CLIENT_ID CLIENT_SECRET
"""

from __future__ import annotations

import sys
from importlib import resources

from fitconnect import fitconnect as sdk

XBAU = {"schemaUri": "urn:xoev-de:bmk:standard:xbau_2.6", "mimeType": "application/xml"}
BUILDING_PERMIT = "urn:de:fim:leika:leistung:99066006001000"


def main(base_url: str, destination_id: str, client_id: str, client_secret: str) -> dict[str, str]:
    urls = {"TOKEN_URL": f"{base_url}/token", "SUBMISSION_API_URL": f"{base_url}/v1"}
    sdk._ENVIRONMENT_CONFIG[sdk.Environment.TESTING] = urls  # the SDK's only way to set base URLs
    client = sdk.FITConnectClient(sdk.Environment.TESTING, client_id, client_secret)
    samples = resources.files("gateway").joinpath("data")
    result: dict[str, str] = client.submission(
        destination_id,
        BUILDING_PERMIT,
        data=samples.joinpath("xbau-baugenehmigung-antrag.xml").read_text("utf-8"),
        data_schema=dict(XBAU),
        attachments=[samples.joinpath("lageplan.pdf").read_bytes()],
    )
    return result


if __name__ == "__main__":
    sent = main(*sys.argv[1:5])
    print(f"submitted: submissionId {sent['submissionId']}, caseId {sent['caseId']}")
