"""The README's first hour: ``xgw serve`` prints credentials, ``examples/first_submission.py``
sends with them, and the package lands in ``xgw-data/delivered``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conformance.conftest import LiveGateway
from tests.eventually import eventually_sync

SCRIPT = Path(__file__).parents[2] / "examples" / "first_submission.py"


def test_first_submission_script_gets_delivered(live_gateway: LiveGateway) -> None:
    live = live_gateway
    sent = subprocess.run(
        [sys.executable, str(SCRIPT), live.base_url, live.destination_id, live.client_id, live.client_secret],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("submitted: submissionId ")
    submission_id = sent.stdout.split()[2].rstrip(",")
    package = live.workdir / "xgw-data" / "delivered" / submission_id

    def delivered() -> bool:
        return (package / "manifest.json").is_file()

    eventually_sync(delivered, within=30, interval=0.2, what="the delivered package")
    assert (package / "data.xml").read_bytes().startswith(b"<?xml")
