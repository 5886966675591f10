"""The gateway's adapter contract, run against the sample DMS adapter: all it takes is this file."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from xgw_adapter_sample import SampleDmsAdapter

from gateway.adapters import AttachmentView, Submission
from gateway.adapters.testing import AdapterContractTests, make_submission, running


class TestSampleDms(AdapterContractTests[SampleDmsAdapter]):
    @pytest.fixture
    def adapter(self, tmp_path: Path) -> SampleDmsAdapter:
        return SampleDmsAdapter.from_config({"database": str(tmp_path / "dms" / "dms.sqlite")})

    async def count_effects(self, adapter: SampleDmsAdapter, submission: Submission) -> int:
        return len(rows(adapter, "SELECT 1 FROM vorgang WHERE submission_id = ?", submission.submission_id))

    async def delivered_files(self, adapter: SampleDmsAdapter, submission: Submission) -> dict[str, bytes]:
        ((data,),) = rows(
            adapter, "SELECT data FROM vorgang WHERE submission_id = ?", submission.submission_id
        )
        documents = rows(
            adapter, "SELECT name, sha512 FROM dokument WHERE submission_id = ?", submission.submission_id
        )
        return {
            "data.xml": data,
            **{f"dokumente/{name}": (adapter.blob_dir / sha).read_bytes() for name, sha in documents},
        }

    def output_root(self, adapter: SampleDmsAdapter) -> Path:
        return adapter.options.database.parent


def rows(adapter: SampleDmsAdapter, query: str, *args: Any) -> list[Any]:
    with sqlite3.connect(adapter.options.database) as db:
        result = db.execute(query, args).fetchall()
    db.close()
    return result


async def test_aktenzeichen_is_the_receipt_reference(tmp_path: Path) -> None:
    adapter = SampleDmsAdapter.from_config({"database": str(tmp_path / "dms.sqlite")})
    async with running(adapter):
        receipt = await adapter.deliver(make_submission())
    assert receipt.reference is not None and receipt.reference.startswith("AZ-")
    assert receipt.reference.endswith("-000001")


async def test_vorgang_keeps_the_service_name_the_sender_reference_and_named_documents(
    tmp_path: Path,
) -> None:
    adapter = SampleDmsAdapter.from_config({"database": str(tmp_path / "dms.sqlite")})
    scan = AttachmentView.from_bytes(b"II*\x00", attachment_id="a1", mime_type="image/tiff")
    submission = make_submission(attachments=[scan])
    submission = replace(
        submission, metadata={**submission.metadata, "additionalReferenceInfo": {"senderReference": "OZG-17"}}
    )
    async with running(adapter):
        await adapter.deliver(submission)
    query = "SELECT leistung, sender_reference FROM vorgang WHERE submission_id = ?"
    assert rows(adapter, query, submission.submission_id) == [("Baugenehmigung", "OZG-17")]
    assert rows(
        adapter,
        "SELECT name FROM dokument",
    ) == [("attachment-1.tif",)]
