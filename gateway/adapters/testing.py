"""Contract tests an adapter author runs against their own adapter, with a few lines of code.

::

    from gateway.adapters.testing import AdapterContractTests

    class TestMyAdapter(AdapterContractTests[MyAdapter]):
        @pytest.fixture
        def adapter(self, tmp_path: Path) -> MyAdapter:   # a configured, not yet started adapter
            return MyAdapter.from_config({"database": str(tmp_path / "dms.sqlite")})

        async def count_effects(self, adapter: MyAdapter, submission: Submission) -> int:
            return count_rows(adapter.options.database, submission.submission_id)  # typed options

The type parameter types ``adapter`` (and so ``adapter.options``) in every hook.

Optional: :meth:`~AdapterContractTests.delivered_files` (what the Fachverfahren received, name →
content) and :meth:`~AdapterContractTests.output_root` (where the adapter may write) sharpen the
hostile-file-name test. Needs pytest and pytest-asyncio; the tests start and close the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic

import pytest
from typing_extensions import TypeVar

from gateway.adapters._samples import (
    HOSTILE_FILENAMES,
    LEIKA_BAUGENEHMIGUNG,
    XBAU_SCHEMA_URI,
    StreamProbe,
    make_submission,
    sample_bytes,
)
from gateway.adapters.base import Adapter
from gateway.adapters.names import is_safe_filename
from gateway.adapters.submission import AttachmentView, Receipt, Submission

__all__ = [
    "HOSTILE_FILENAMES",
    "LEIKA_BAUGENEHMIGUNG",
    "XBAU_SCHEMA_URI",
    "AdapterContractTests",
    "StreamProbe",
    "make_submission",
    "running",
    "sample_bytes",
]


#: The adapter class under test; without a type argument, any adapter.
AdapterT = TypeVar("AdapterT", bound=Adapter[Any], default=Adapter[Any])


@contextlib.asynccontextmanager
async def running(adapter: AdapterT) -> AsyncIterator[AdapterT]:
    """``adapter`` between ``start()`` and ``close()``."""
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


class AdapterContractTests(Generic[AdapterT]):
    """What every adapter must do. Subclass as ``Test…[YourAdapter]``, provide ``adapter`` and
    ``count_effects``."""

    __test__: ClassVar[bool] = False

    #: Re-delivering returns a receipt equal to the first one.
    stable_receipt: ClassVar[bool] = True
    #: A new instance with the same options still recognises earlier deliveries (state is durable).
    survives_restart: ClassVar[bool] = True
    #: Size of the generated attachment in the streaming test.
    stream_size: ClassVar[int] = 16 * 1024 * 1024
    #: Peak Python heap growth allowed while streaming it, as a fraction of its size (None: not checked).
    max_stream_memory: ClassVar[float | None] = 0.5

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Collect subclasses named ``Test…`` (not this base, not helper bases), unless they say otherwise."""
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = cls.__name__.startswith("Test")

    # -- what the subclass provides --------------------------------------------------------------

    @pytest.fixture
    def adapter(self) -> AdapterT:
        """A configured adapter, not yet started (override this fixture)."""
        raise NotImplementedError("override the `adapter` fixture in your AdapterContractTests subclass")

    async def count_effects(self, adapter: AdapterT, submission: Submission) -> int:
        """How many times ``submission`` took effect in the Fachverfahren (override)."""
        raise NotImplementedError("override count_effects() in your AdapterContractTests subclass")

    async def delivered_files(self, adapter: AdapterT, submission: Submission) -> Mapping[str, bytes] | None:
        """What the Fachverfahren received as ``relative/path`` → content; ``None``: not observable."""
        return None

    def output_root(self, adapter: AdapterT) -> Path | None:
        """The directory the adapter writes into, if it writes files; nothing may appear elsewhere."""
        return None

    # -- the contract ----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_delivers_a_realistic_submission_and_returns_a_receipt(self, adapter: AdapterT) -> None:
        submission = make_submission()
        async with running(adapter):
            receipt = await adapter.deliver(submission)
        assert isinstance(receipt, Receipt), f"deliver() returned {receipt!r}, not a Receipt"
        assert await self.count_effects(adapter, submission) == 1
        files = await self.delivered_files(adapter, submission)
        if files is not None:
            contents = set(files.values())
            assert submission.data in contents, "the XÖV data did not arrive"
            assert sample_bytes("lageplan.pdf") in contents, "the PDF attachment did not arrive"

    @pytest.mark.asyncio
    async def test_redelivery_of_the_same_submission_has_no_second_effect(self, adapter: AdapterT) -> None:
        submission = make_submission()
        async with running(adapter):
            first = await adapter.deliver(submission)
            second = await adapter.deliver(submission)
        assert await self.count_effects(adapter, submission) == 1
        if self.stable_receipt:
            assert second == first
        if self.survives_restart:
            async with running(type(adapter)(adapter.options)) as restarted:
                third = await restarted.deliver(submission)
            assert await self.count_effects(adapter, submission) == 1
            if self.stable_receipt:
                assert third == first

    @pytest.mark.asyncio
    async def test_distinct_submissions_each_take_effect_once(self, adapter: AdapterT) -> None:
        one, two = make_submission(), make_submission()
        async with running(adapter):
            await adapter.deliver(one)
            await adapter.deliver(two)
        assert await self.count_effects(adapter, one) == 1
        assert await self.count_effects(adapter, two) == 1

    @pytest.mark.asyncio
    async def test_attachment_is_consumed_as_a_stream(self, adapter: AdapterT) -> None:
        probe = StreamProbe(self.stream_size)
        submission = make_submission(attachments=[probe.attachment()])
        async with running(adapter):
            was_tracing = tracemalloc.is_tracing()
            if not was_tracing:
                tracemalloc.start()
            try:
                tracemalloc.reset_peak()
                baseline = tracemalloc.get_traced_memory()[0]
                await adapter.deliver(submission)
                peak = tracemalloc.get_traced_memory()[1] - baseline
            finally:
                if not was_tracing:
                    tracemalloc.stop()
        assert probe.complete_passes >= 1, (
            f"the attachment stream was not read to its end ({probe.opens} opens)"
        )
        assert await self.count_effects(adapter, submission) == 1
        if self.max_stream_memory is not None:
            limit = self.stream_size * self.max_stream_memory
            assert peak < limit, f"peak heap growth {peak} bytes while streaming {self.stream_size} bytes"

    @pytest.mark.asyncio
    async def test_check_passes_for_a_good_configuration(self, adapter: AdapterT) -> None:
        async with running(adapter):
            await adapter.check()

    @pytest.mark.asyncio
    async def test_hostile_attachment_filenames_never_escape_or_crash(
        self, adapter: AdapterT, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        names = [*HOSTILE_FILENAMES, str(tmp_path / "escape-abs")]
        contents_sent = [f"attachment {i}: {name!r}".encode() for i, name in enumerate(names)]
        attachments = [
            AttachmentView.from_bytes(
                content,
                attachment_id=f"00000000-0000-4000-8000-{i:012d}",
                filename=name,
                mime_type="application/pdf",
            )
            for i, (name, content) in enumerate(zip(names, contents_sent, strict=True))
        ]
        submission = make_submission(attachments=attachments)
        cwd = tmp_path / "cwd" / "deep"
        cwd.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(cwd)
        before = await asyncio.to_thread(_tree, tmp_path)
        async with running(adapter):
            receipt = await adapter.deliver(submission)
        assert isinstance(receipt, Receipt)
        root = self.output_root(adapter)
        if root is not None:
            after = await asyncio.to_thread(_tree, tmp_path)
            escaped = [p for p in after - before if not p.is_relative_to(root)]
            assert not escaped, f"written outside {root}: {escaped}"
        traps = [tmp_path / "escape-abs", tmp_path / "escape-rel", tmp_path / "cwd" / "escape-rel"]
        if root is not None:
            traps += [root.parent / "escape-rel", root.parent.parent / "escape-rel"]
        assert not [p for p in traps if p.exists()], "a file escaped through its name"
        files = await self.delivered_files(adapter, submission)
        if files is not None:
            unsafe = [path for path in files if not all(map(is_safe_filename, path.split("/")))]
            assert not unsafe, f"unsafe names reached the Fachverfahren: {[p[:80] for p in unsafe]}"
            received = set(files.values())
            lost = [
                repr(name)[:40]
                for name, content in zip(names, contents_sent, strict=True)
                if content not in received
            ]
            assert not lost, f"attachments lost or overwritten: {lost}"


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))
