"""Hot-folder delivery: one package per submission in a directory a Fachverfahren imports from.

Each submission becomes ``<directory>/<submission_id>/`` (or ``<submission_id>.zip``) with the
layout of :mod:`adapters._package`. A package appears atomically: it is built under
``<directory>/.tmp-<submission_id>-<random>``, every file and directory is fsynced, and only then
is it renamed (directories) or hard-linked (zip files) to its final name, which fails instead of
replacing an existing package. Importers must ignore names starting with a dot.

Idempotency: after publishing, a marker ``<directory>/.xgw-delivered/<submission_id>.json`` records
the receipt, so re-delivery returns the same receipt without writing again — also after the
Fachverfahren has moved the package away.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import secrets
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import structlog
from pydantic import Field

from adapters._package import DirectoryWriter, PackageWriter, ZipWriter, build, fsync_dir
from gateway.adapters import (
    Adapter,
    AdapterOptions,
    ConfigError,
    PermanentDeliveryError,
    Receipt,
    Submission,
    TransientDeliveryError,
)

log = structlog.get_logger(__name__)

TEMP_PREFIX = ".tmp-"
LEDGER = ".xgw-delivered"
STALE_TEMP_SECONDS = 3600
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class FilesystemOptions(AdapterOptions):
    """Where and how packages are written."""

    directory: Path = Field(
        description="hot folder the Fachverfahren imports from; must exist and be writable"
    )
    format: Literal["directory", "zip"] = Field(
        default="directory", description="one directory per submission, or one zip file per submission"
    )


class FilesystemAdapter(Adapter[FilesystemOptions]):
    """Writes each submission as a package (data, metadata, attachments, manifest) into a hot folder.

    Packages appear atomically under the submission id; re-delivery writes nothing new.
    """

    async def check(self) -> None:
        """Raises :class:`ConfigError` if the directory is missing, not a directory or not writable."""
        await asyncio.to_thread(self._check_directory)

    async def start(self) -> None:
        """Remove temporary packages that a crashed process left behind (older than an hour)."""
        await asyncio.to_thread(self._remove_stale_temps)

    async def deliver(self, submission: Submission) -> Receipt:
        """Write the package; raises :class:`TransientDeliveryError` on I/O errors (disk full…)."""
        if not _SAFE_ID.match(submission.submission_id):
            raise PermanentDeliveryError(
                f"submission id {submission.submission_id[:80]!r} is not usable as a name"
            )
        directory = self.options.directory
        suffix = ".zip" if self.options.format == "zip" else ""
        target = directory / f"{submission.submission_id}{suffix}"
        receipt = Receipt(reference=target.name, detail=f"package written to {target}")
        try:
            if await asyncio.to_thread(self._already_delivered, submission, target, receipt):
                log.info(
                    "package_already_delivered", submission_id=submission.submission_id, path=str(target)
                )
                return receipt
            temp = directory / f"{TEMP_PREFIX}{submission.submission_id}-{secrets.token_hex(4)}{suffix}"
            now = datetime.now(UTC)
            writer: PackageWriter = ZipWriter(temp, now) if suffix else DirectoryWriter(temp)
            try:
                await build(submission, writer, now)
                await writer.commit()
                published = await asyncio.to_thread(_publish, temp, target)
            finally:
                writer.discard()  # after a successful publish, only the temporary name is gone
            await asyncio.to_thread(self._record, submission, receipt)
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write to {directory}: {exc.strerror or exc}") from exc
        log.info(
            "package_written" if published else "package_already_delivered",
            submission_id=submission.submission_id,
            path=str(target),
        )
        return receipt

    def _already_delivered(self, submission: Submission, target: Path, receipt: Receipt) -> bool:
        if (self.options.directory / LEDGER / f"{submission.submission_id}.json").exists():
            return True
        if target.exists():  # published, but the marker was not written (crash in between)
            self._record(submission, receipt)
            return True
        return False

    def _record(self, submission: Submission, receipt: Receipt) -> None:
        ledger = self.options.directory / LEDGER
        ledger.mkdir(mode=0o750, exist_ok=True)
        marker = ledger / f"{submission.submission_id}.json"
        temp = ledger / f"{TEMP_PREFIX}{submission.submission_id}-{secrets.token_hex(4)}"
        body = {
            "reference": receipt.reference,
            "detail": receipt.detail,
            "recordedAt": datetime.now(UTC).isoformat(),
        }
        with open(temp, "x", encoding="utf-8") as handle:
            json.dump(body, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, marker)
        fsync_dir(ledger)

    def _check_directory(self) -> None:
        directory = self.options.directory
        if not directory.is_dir():
            raise ConfigError("is not an existing directory", path="options.directory")
        probe = directory / f"{TEMP_PREFIX}check-{secrets.token_hex(4)}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"is not writable: {exc.strerror or exc}", path="options.directory") from exc

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for folder in (self.options.directory, self.options.directory / LEDGER):
            for path in folder.glob(f"{TEMP_PREFIX}*") if folder.is_dir() else ():
                try:
                    if path.lstat().st_mtime < cutoff:
                        _remove(path)
                        log.warning("stale_temp_removed", path=str(path))
                except OSError:
                    continue


def _publish(temp: Path, target: Path) -> bool:
    """Give ``temp`` its final name unless ``target`` exists; False if another worker was first."""
    try:
        if temp.is_dir():
            os.rename(temp, target)  # fails with ENOTEMPTY/EEXIST for an existing package
        else:
            _link_or_rename(temp, target)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and target.exists():
            return False
        raise
    fsync_dir(target.parent)
    return True


def _link_or_rename(temp: Path, target: Path) -> None:
    """Hard-link (never replaces an existing file); rename where the file system has no links."""
    try:
        os.link(temp, target)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if target.exists():
            raise FileExistsError(errno.EEXIST, "package exists", str(target)) from exc
        os.rename(temp, target)
    else:
        temp.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
