"""Hot-folder delivery: one package per submission, appearing atomically and written once.

A package holds::

    data.xml | data.json      the XÖV message (Fachdaten)
    metadata.json             the FIT-Connect metadata
    attachments/<name>        each attachment under its name from attachment_filenames()
    manifest.json             ids, service, schema, timestamps, and size + SHA-512 of every file

:class:`HotFolder` writes it as ``<directory>/<submission_id>/`` or ``<submission_id>.zip``. The
package is built under ``<directory>/.tmp-<submission_id>-<random>``, every file and directory is
fsynced, and only then is it renamed (directories) or hard-linked (zip files) to its final name,
which fails instead of replacing an existing package; ``manifest.json`` is written last.
Importers must ignore names starting with a dot. After publishing, a marker
``<directory>/.xgw-delivered/<submission_id>.json`` records the receipt, so re-delivery returns
the same receipt without writing again, also after the importer has moved the package away.

:func:`save_attachment` is the streaming, hash-checked write of one attachment, for adapters that
store attachments their own way.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import structlog

from gateway.adapters import _files
from gateway.adapters.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.adapters.names import attachment_filenames, extension_for
from gateway.adapters.submission import AttachmentView, Receipt, Submission
from gateway.errors import ConfigError

TEMP_PREFIX = ".tmp-"
LEDGER = ".xgw-delivered"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

log = structlog.get_logger(__name__)


class HotFolder:
    """Delivers submissions as packages into ``directory``, as directories or zip files.

    ``option`` names the directory in the configuration, for the errors of :meth:`check`.
    """

    def __init__(
        self,
        directory: Path,
        *,
        format: Literal["directory", "zip"] = "directory",
        option: str = "options.directory",
    ) -> None:
        self.directory = directory
        self.suffix = ".zip" if format == "zip" else ""
        self.option = option

    async def check(self) -> None:
        """Raises :class:`ConfigError` if the directory is missing, not a directory or not writable."""
        await asyncio.to_thread(self._check)

    async def remove_stale(self, older_than: float = 3600.0) -> None:
        """Remove temporary packages a crashed process left behind (older than ``older_than`` s)."""
        await asyncio.to_thread(self._remove_stale, time.time() - older_than)

    async def deliver(self, submission: Submission) -> Receipt:
        """Write the package of ``submission`` once; its receipt names the package.

        Raises :class:`TransientDeliveryError` on I/O errors (disk full…) and
        :class:`PermanentDeliveryError` for a submission id unfit for a name or an attachment
        whose content does not match its declared SHA-512 or size.
        """
        submission_id = submission.submission_id
        if not _SAFE_ID.match(submission_id):
            raise PermanentDeliveryError(f"submission id {submission_id[:80]!r} is not usable as a name")
        target = self.directory / f"{submission_id}{self.suffix}"
        receipt = Receipt(reference=target.name, detail=f"package written to {target}")
        written = False
        try:
            recorded, existing = await asyncio.to_thread(self._delivered_before, submission_id, target)
            if not recorded:
                if not existing:
                    written = await self._write(submission, target)
                await self._record(submission_id, receipt)
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write to {self.directory}: {exc.strerror or exc}") from exc
        log.info(
            "package_written" if written else "package_already_delivered",
            submission_id=submission_id,
            path=str(target),
        )
        return receipt

    async def _write(self, submission: Submission, target: Path) -> bool:
        """Build the package under a temporary name and publish it; False if it existed."""
        temp = self.directory / f"{TEMP_PREFIX}{submission.submission_id}-{secrets.token_hex(4)}{self.suffix}"
        now = datetime.now(UTC)
        writer = _files.ZipWriter(temp, now) if self.suffix else _files.DirectoryWriter(temp)
        try:
            await _write_package(submission, writer, now)
            await writer.commit()
            return await asyncio.to_thread(_files.publish, temp, target)
        finally:
            writer.discard()  # after a successful publish, only the temporary name is gone

    def _delivered_before(self, submission_id: str, target: Path) -> tuple[bool, bool]:
        """(marker recorded, package published): a package without a marker was published just
        before a crash."""
        if (self.directory / LEDGER / f"{submission_id}.json").exists():
            return True, False
        return False, target.exists()

    async def _record(self, submission_id: str, receipt: Receipt) -> None:
        ledger = self.directory / LEDGER
        await asyncio.to_thread(ledger.mkdir, mode=0o750, exist_ok=True)
        temp = ledger / f"{TEMP_PREFIX}{submission_id}-{secrets.token_hex(4)}"
        body = {
            "reference": receipt.reference,
            "detail": receipt.detail,
            "recordedAt": datetime.now(UTC).isoformat(),
        }
        await _files.write_file(temp, _files.once(json.dumps(body).encode()))
        await asyncio.to_thread(os.replace, temp, ledger / f"{submission_id}.json")
        await asyncio.to_thread(_files.fsync_dir, ledger)

    def _check(self) -> None:
        if not self.directory.is_dir():
            raise ConfigError("is not an existing directory", path=self.option)
        probe = self.directory / f"{TEMP_PREFIX}check-{secrets.token_hex(4)}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"is not writable: {exc.strerror or exc}", path=self.option) from exc

    def _remove_stale(self, cutoff: float) -> None:
        for folder in (self.directory, self.directory / LEDGER):
            for path in folder.glob(f"{TEMP_PREFIX}*") if folder.is_dir() else ():
                try:
                    if path.lstat().st_mtime < cutoff:
                        _files.remove(path)
                        log.warning("stale_temp_removed", path=str(path))
                except OSError:
                    continue


async def save_attachment(attachment: AttachmentView, path: Path) -> int:
    """Stream ``attachment`` into the new file ``path``, fsynced; return its size.

    Raises :class:`PermanentDeliveryError` (and removes the file) if the content does not match
    the SHA-512 or size the metadata declared; ``FileExistsError`` if ``path`` exists. On any
    error the file is gone.
    """
    try:
        size, digest = await _files.write_file(path, attachment.open())
        _verify(attachment, size, digest)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return size


async def _write_package(
    submission: Submission, writer: _files.PackageWriter, delivered_at: datetime
) -> dict[str, Any]:
    """Write the files of ``submission``'s package to ``writer``, manifest last; return the manifest."""
    data_name = f"data{extension_for(submission.mime_type)}"
    files = [await _add(writer, data_name, submission.data, role="data", mimeType=submission.mime_type)]
    metadata = json.dumps(dict(submission.metadata), ensure_ascii=False, indent=2).encode()
    files.append(await _add(writer, "metadata.json", metadata, role="metadata", mimeType="application/json"))
    for attachment, name in zip(
        submission.attachments, attachment_filenames(submission.attachments), strict=True
    ):
        size, digest = await writer.add(f"attachments/{name}", attachment.open())
        _verify(attachment, size, digest)
        files.append(
            {
                "path": f"attachments/{name}",
                "role": "attachment",
                "attachmentId": attachment.attachment_id,
                "mimeType": attachment.mime_type,
                "purpose": attachment.purpose,
                "size": size,
                "sha512": digest,
            }
        )
    manifest = {
        "manifestVersion": "1.0",
        "generator": "xoev-gateway",
        **submission.describe(),
        "deliveredAt": delivered_at.isoformat(),
        "files": files,
    }
    await _add(writer, "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    return manifest


async def _add(writer: _files.PackageWriter, name: str, content: bytes, **entry: str) -> dict[str, Any]:
    size, digest = await writer.add(name, _files.once(content))
    return {"path": name, **entry, "size": size, "sha512": digest}


def _verify(attachment: AttachmentView, size: int, digest: str) -> None:
    if digest != attachment.sha512.lower() or attachment.size not in (None, size):
        raise PermanentDeliveryError(
            f"attachment {attachment.attachment_id}: content does not match its metadata (SHA-512/size)"
        )
