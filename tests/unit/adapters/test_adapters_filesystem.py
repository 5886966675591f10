"""The filesystem (hot-folder) adapter: contract, package layout, atomicity, idempotency."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.filesystem import FilesystemAdapter
from gateway.adapters import (
    Adapter,
    AttachmentView,
    ConfigError,
    PermanentDeliveryError,
    Submission,
    TransientDeliveryError,
)
from gateway.adapters.testing import AdapterContractTests, make_submission, running, sample_bytes


def package_files(root: Path, submission_id: str) -> dict[str, bytes]:
    """The files of one delivered package, directory or zip, as relative path → content."""
    folder, archive = root / submission_id, root / f"{submission_id}.zip"
    if archive.exists():
        with zipfile.ZipFile(archive) as zf:
            return {name: zf.read(name) for name in zf.namelist()}
    if folder.is_dir():
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    return {}


class _FilesystemContract(AdapterContractTests):
    format = "directory"

    @pytest.fixture
    def adapter(self, tmp_path: Path) -> FilesystemAdapter:
        (tmp_path / "hotfolder").mkdir()
        return FilesystemAdapter.from_config(
            {"directory": str(tmp_path / "hotfolder"), "format": self.format}
        )

    async def count_effects(self, adapter: Adapter[Any], submission: Submission) -> int:
        root = adapter.options.directory
        return sum(1 for p in root.iterdir() if p.name.startswith(submission.submission_id))

    async def delivered_files(self, adapter: Adapter[Any], submission: Submission) -> Mapping[str, bytes]:
        return package_files(adapter.options.directory, submission.submission_id)

    def output_root(self, adapter: Adapter[Any]) -> Path:
        return Path(adapter.options.directory)


class TestFilesystemDirectoryContract(_FilesystemContract):
    format = "directory"


class TestFilesystemZipContract(_FilesystemContract):
    format = "zip"


@pytest.fixture
def hotfolder(tmp_path: Path) -> Path:
    folder = tmp_path / "hotfolder"
    folder.mkdir()
    return folder


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("fmt", ["directory", "zip"])
async def test_package_holds_data_metadata_attachments_and_a_manifest_with_hashes(
    hotfolder: Path, fmt: str
) -> None:
    adapter = FilesystemAdapter.from_config({"directory": str(hotfolder), "format": fmt})
    submission = make_submission()
    async with running(adapter):
        receipt = await adapter.deliver(submission)
    suffix = ".zip" if fmt == "zip" else ""
    assert receipt.reference == f"{submission.submission_id}{suffix}"
    assert entries(hotfolder) == [".xgw-delivered", f"{submission.submission_id}{suffix}"]
    files = package_files(hotfolder, submission.submission_id)
    assert sorted(files) == ["attachments/lageplan.pdf", "data.xml", "manifest.json", "metadata.json"]
    assert files["data.xml"] == sample_bytes("xbau-baugenehmigung-antrag.xml")
    assert files["attachments/lageplan.pdf"] == sample_bytes("lageplan.pdf")
    assert json.loads(files["metadata.json"]) == submission.metadata
    manifest = json.loads(files["manifest.json"])
    assert manifest["submissionId"] == submission.submission_id
    assert manifest["caseId"] == submission.case_id
    assert manifest["service"] == {"identifier": submission.service.identifier, "name": "Baugenehmigung"}
    assert manifest["schemaUri"] == "urn:xoev-de:bmk:standard:xbau_2.6"
    assert manifest["submittedAt"] == "2025-03-14T09:26:53+00:00" and manifest["deliveredAt"]
    for entry in manifest["files"]:
        assert entry["sha512"] == hashlib.sha512(files[entry["path"]]).hexdigest()
        assert entry["size"] == len(files[entry["path"]])
    pdf = next(e for e in manifest["files"] if e["role"] == "attachment")
    assert pdf["attachmentId"] == submission.attachments[0].attachment_id
    assert pdf["mimeType"] == "application/pdf" and pdf["purpose"] == "attachment"


@pytest.mark.parametrize("fmt", ["directory", "zip"])
async def test_failure_mid_write_leaves_no_package_and_no_temp_files(hotfolder: Path, fmt: str) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"%PDF-1.4 first chunk"
        raise RuntimeError("blob store went away")

    attachment = AttachmentView(
        attachment_id="a1",
        filename="plan.pdf",
        mime_type="application/pdf",
        purpose="attachment",
        sha512="0" * 128,
        opener=broken,
    )
    adapter = FilesystemAdapter.from_config({"directory": str(hotfolder), "format": fmt})
    submission = make_submission(attachments=[attachment])
    with pytest.raises(RuntimeError, match="blob store"):
        await adapter.deliver(submission)
    assert entries(hotfolder) == []


@pytest.mark.parametrize("fmt", ["directory", "zip"])
async def test_importer_sees_only_temporary_names_while_writing(hotfolder: Path, fmt: str) -> None:
    seen: list[list[str]] = []

    async def watched() -> AsyncIterator[bytes]:
        for _ in range(3):
            seen.append(entries(hotfolder))  # what an importer polling the folder would find
            yield b"%PDF-1.4 chunk"

    content = b"%PDF-1.4 chunk" * 3
    attachment = AttachmentView(
        attachment_id="a1",
        filename="plan.pdf",
        mime_type="application/pdf",
        purpose="attachment",
        sha512=hashlib.sha512(content).hexdigest(),
        opener=watched,
    )
    submission = make_submission(attachments=[attachment])
    await FilesystemAdapter.from_config({"directory": str(hotfolder), "format": fmt}).deliver(submission)
    assert seen and all(name.startswith(".tmp-") for names in seen for name in names)
    assert package_files(hotfolder, submission.submission_id)["attachments/plan.pdf"] == content


async def test_disk_error_is_transient_and_cleans_up(
    hotfolder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gateway.adapters._files._flush_and_sync", full)
    adapter = FilesystemAdapter.from_config({"directory": str(hotfolder)})
    with pytest.raises(TransientDeliveryError, match="No space left"):
        await adapter.deliver(make_submission())
    assert entries(hotfolder) == []


async def test_hash_mismatch_is_permanent_and_leaves_nothing(hotfolder: Path) -> None:
    good = AttachmentView.from_bytes(b"real content", attachment_id="a1", filename="x.pdf")
    forged = AttachmentView(
        attachment_id="a1",
        filename="x.pdf",
        mime_type="application/pdf",
        purpose="attachment",
        sha512="ab" * 64,
        size=12,
        opener=good.opener,
    )
    adapter = FilesystemAdapter.from_config({"directory": str(hotfolder), "format": "zip"})
    with pytest.raises(PermanentDeliveryError, match="does not match"):
        await adapter.deliver(make_submission(attachments=[forged]))
    assert entries(hotfolder) == []


async def test_redelivery_after_the_importer_took_the_package_writes_nothing(hotfolder: Path) -> None:
    adapter = FilesystemAdapter.from_config({"directory": str(hotfolder)})
    submission = make_submission()
    first = await adapter.deliver(submission)
    (hotfolder / submission.submission_id).rename(hotfolder.parent / "imported")
    assert await adapter.deliver(submission) == first
    assert entries(hotfolder) == [".xgw-delivered"]


async def test_package_published_before_a_crash_is_recognised_without_its_marker(hotfolder: Path) -> None:
    adapter = FilesystemAdapter.from_config({"directory": str(hotfolder)})
    submission = make_submission()
    first = await adapter.deliver(submission)
    (hotfolder / ".xgw-delivered" / f"{submission.submission_id}.json").unlink()
    mtime = (hotfolder / submission.submission_id / "manifest.json").stat().st_mtime_ns
    assert await adapter.deliver(submission) == first
    assert (hotfolder / submission.submission_id / "manifest.json").stat().st_mtime_ns == mtime
    assert (hotfolder / ".xgw-delivered" / f"{submission.submission_id}.json").exists()


async def test_concurrent_delivery_of_one_submission_publishes_one_package(hotfolder: Path) -> None:
    import asyncio

    adapter = FilesystemAdapter.from_config({"directory": str(hotfolder), "format": "zip"})
    submission = make_submission()
    receipts = await asyncio.gather(*(adapter.deliver(submission) for _ in range(5)))
    assert len(set(receipts)) == 1
    assert entries(hotfolder) == [".xgw-delivered", f"{submission.submission_id}.zip"]


async def test_start_removes_stale_temporary_packages_only(hotfolder: Path) -> None:
    stale, fresh = hotfolder / ".tmp-old-1234", hotfolder / ".tmp-new-5678"
    stale.mkdir()
    (stale / "data.xml").write_bytes(b"<x/>")
    fresh.write_bytes(b"PK")
    os.utime(stale, (0, 0))
    await FilesystemAdapter.from_config({"directory": str(hotfolder)}).start()
    assert entries(hotfolder) == [".tmp-new-5678"]


async def test_unsafe_submission_id_is_rejected(hotfolder: Path) -> None:
    adapter = FilesystemAdapter.from_config({"directory": str(hotfolder)})
    with pytest.raises(PermanentDeliveryError):
        await adapter.deliver(make_submission(submission_id="../../etc"))
    assert entries(hotfolder) == []


async def test_check_names_the_directory_option_when_it_is_missing(tmp_path: Path) -> None:
    adapter = FilesystemAdapter.from_config({"directory": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match=r"^options\.directory: is not an existing directory"):
        await adapter.check()


async def test_check_reports_a_directory_it_cannot_write(
    hotfolder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, data: bytes) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(ConfigError, match=r"^options\.directory: is not writable: Permission denied"):
        await FilesystemAdapter.from_config({"directory": str(hotfolder)}).check()


def test_bad_format_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"^options\.format: Input should be 'directory' or 'zip'"):
        FilesystemAdapter.from_config({"directory": "/tmp", "format": "tar"})


async def test_attachment_without_a_filename_gets_a_name_with_its_extension(hotfolder: Path) -> None:
    form = AttachmentView.from_bytes(
        b"%PDF-1.7", attachment_id="a1", mime_type="application/pdf", purpose="form"
    )
    submission = make_submission(attachments=[form])
    await FilesystemAdapter.from_config({"directory": str(hotfolder)}).deliver(submission)
    files = package_files(hotfolder, submission.submission_id)
    assert files["attachments/form-1.pdf"] == b"%PDF-1.7"
