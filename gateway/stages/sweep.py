"""The blob sweep: retention deadlines, then ``.part`` files and orphaned blobs, at start and every
``retention.sweep_interval_seconds``.

The workers run it (one sweep per worker process; several at once only repeat deletes that are
idempotent). One ``blobs_swept`` line per round gives the counts; each purged submission has its
own ``submission_content_deleted`` line (:mod:`gateway.store.retention`). Orphans are files no row
references and last written more than ``orphan_age_seconds`` ago, so uploads and submits in
flight are never touched.
"""

from __future__ import annotations

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
    """One round of the sweep per :meth:`run_once`; the workers repeat it with
    :class:`~gateway.stages.periodic.Periodic`."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], blobs: BlobStore, settings: RetentionSettings
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._settings = settings

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
