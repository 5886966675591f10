"""The blob sweep: retention deadlines, then ``.part`` files and orphaned blobs, at start and every
``retention.sweep_interval_seconds``.

The workers run it (one sweep per worker process; several at once only repeat deletes that are
idempotent). One ``blobs_swept`` line per round gives the counts; each purged submission has its
own ``submission_content_deleted`` line (:mod:`gateway.store.retention`). Orphans are files no row
references and last written more than ``orphan_age_seconds`` ago, so uploads and submits in
flight are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.config.settings import RetentionSettings
from gateway.store.blobs import BlobStore
from gateway.store.retention import expired, purge, referenced_blobs

log = structlog.get_logger(__name__)
BATCH = 500


@dataclass(frozen=True)
class SweepResult:
    """One round: blobs deleted per retention rule, ``.part`` files and orphans removed."""

    deleted: dict[str, int]
    parts: int
    orphans: int


class Sweeper:
    """Runs :meth:`run_once` at start and periodically until stopped."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], blobs: BlobStore, settings: RetentionSettings
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._settings = settings
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> SweepResult:
        """Purge expired content, then sweep ``.part`` files and orphans. Store errors propagate."""
        deleted: Counter[str] = Counter()
        while due := await expired(self._sessions, self._settings, dt.datetime.now(dt.UTC), BATCH):
            purged = [(item.rule, await purge(self._sessions, self._blobs, item)) for item in due]
            for rule, count in purged:
                deleted[rule] += count
            if not any(count for _, count in purged):
                break  # all moved on or taken by another sweeper: look again next round

        async def referenced() -> frozenset[str]:
            return await referenced_blobs(self._sessions)

        swept = await self._blobs.sweep(referenced, time.time() - self._settings.orphan_age_seconds)
        result = SweepResult(dict(deleted), swept.parts, swept.orphans)
        log.info(
            "blobs_swept",
            **{f"{rule}_deleted": count for rule, count in result.deleted.items()},
            parts=result.parts,
            orphans=result.orphans,
        )
        return result

    async def run(self) -> None:
        """Loop until :meth:`stop`; a failed round is logged and tried again at the next one."""
        while not self._stopped.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("blob_sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._settings.sweep_interval_seconds)

    def start(self) -> None:
        """Run :meth:`run` in a background task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="blob-sweep")

    async def stop(self) -> None:
        """End the loop; a round in progress is cancelled (every step is safe to repeat)."""
        self._stopped.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
