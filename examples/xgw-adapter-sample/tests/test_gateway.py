"""The sample DMS adapter run through a real gateway with the gateway's pytest plugin
(``xgw_harness``): the sender's submission becomes one Vorgang and an accept event."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from xgw_adapter_sample import SampleDmsAdapter

from gateway.testing.harness import AdapterHarness


async def test_a_submission_through_the_gateway_becomes_one_vorgang(
    xgw_harness: AdapterHarness, tmp_path: Path
) -> None:
    database = tmp_path / "dms.sqlite"
    outcome = await xgw_harness.deliver(SampleDmsAdapter, {"database": str(database)}, name="sample-dms")
    outcome.assert_delivered(retries=0)
    (attempt,) = outcome.attempts
    assert attempt.adapter == "sample-dms" and attempt.detail == "Vorgang angelegt"
    assert attempt.reference is not None and attempt.reference.startswith("AZ-")
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT submission_id, leistung FROM vorgang").fetchall()
    db.close()
    assert rows == [(outcome.submission_id, "Baugenehmigung beantragen")]
