"""The testing kit itself: it must catch adapters that escape, buffer, or deliver twice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.adapters import Adapter, AdapterOptions, Receipt, Submission, safe_filename
from gateway.adapters.testing import AdapterContractTests, running


class InboxOptions(AdapterOptions):
    directory: Path


class NaiveAdapter(Adapter[InboxOptions]):
    """Writes attachments under the sender's names and counts every delivery: what not to do."""

    trusts_names = True
    sanitises_without_uniqueness = False
    buffers = False
    idempotent = True

    async def deliver(self, submission: Submission) -> Receipt:
        inbox = self.options.directory / submission.submission_id
        log = self.options.directory / "deliveries.log"
        if self.idempotent and inbox.exists():
            return Receipt(reference=submission.submission_id)
        inbox.mkdir(parents=True, exist_ok=True)
        for index, attachment in enumerate(submission.attachments):
            name = (attachment.filename or "").replace("\x00", "")[:100] or f"a{index}"
            name = name if self.trusts_names else f"a{index}"
            if self.sanitises_without_uniqueness:
                name = safe_filename(attachment.filename)
            target = inbox / name
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if self.buffers:
                    target.write_bytes(b"".join([chunk async for chunk in attachment.open()]))
                else:
                    with target.open("wb") as handle:
                        async for chunk in attachment.open():
                            handle.write(chunk)
            except OSError:
                continue  # "robust": skips what it cannot write
        with log.open("a") as handle:
            handle.write(submission.submission_id + "\n")
        return Receipt(reference=submission.submission_id)


class Kit(AdapterContractTests):
    async def count_effects(self, adapter: Adapter[Any], submission: Submission) -> int:
        log: Path = adapter.options.directory / "deliveries.log"
        return (await asyncio.to_thread(log.read_text)).split().count(submission.submission_id)

    def output_root(self, adapter: Adapter[Any]) -> Path:
        return Path(adapter.options.directory)

    async def delivered_files(self, adapter: Adapter[Any], submission: Submission) -> dict[str, bytes]:
        inbox = adapter.options.directory / submission.submission_id
        return {p.relative_to(inbox).as_posix(): p.read_bytes() for p in inbox.rglob("*") if p.is_file()}


def naive(tmp_path: Path, **flaws: bool) -> NaiveAdapter:
    adapter = NaiveAdapter(InboxOptions(directory=tmp_path / "inbox"))
    for flaw, value in flaws.items():
        setattr(adapter, flaw, value)
    return adapter


def test_the_kit_base_class_is_not_collected_but_test_subclasses_are() -> None:
    assert AdapterContractTests.__test__ is False
    assert Kit.__test__ is False

    class TestVendor(AdapterContractTests):
        pass

    assert TestVendor.__test__ is True


async def test_kit_catches_a_name_that_escapes_the_output_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AssertionError, match="written outside"):
        await Kit().test_hostile_attachment_filenames_never_escape_or_crash(
            naive(tmp_path), tmp_path, monkeypatch
        )
    assert (tmp_path / "escape-abs").exists()  # the naive adapter really did write there


async def test_kit_catches_attachments_that_overwrite_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = naive(tmp_path, trusts_names=False, sanitises_without_uniqueness=True)
    with pytest.raises(AssertionError, match="attachments lost or overwritten: .*'Lageplan.pdf'"):
        await Kit().test_hostile_attachment_filenames_never_escape_or_crash(adapter, tmp_path, monkeypatch)


async def test_kit_catches_an_adapter_that_reads_attachments_into_memory(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="peak heap growth"):
        await Kit().test_attachment_is_consumed_as_a_stream(naive(tmp_path, buffers=True))


async def test_kit_catches_a_second_effect_on_redelivery(tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        await Kit().test_redelivery_of_the_same_submission_has_no_second_effect(
            naive(tmp_path, idempotent=False)
        )


async def test_kit_passes_a_careful_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = naive(tmp_path, trusts_names=False)
    async with running(adapter):
        await Kit().test_hostile_attachment_filenames_never_escape_or_crash(adapter, tmp_path, monkeypatch)
    await Kit().test_redelivery_of_the_same_submission_has_no_second_effect(adapter)
    await Kit().test_attachment_is_consumed_as_a_stream(adapter)
