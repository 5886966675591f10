"""The layout of a delivery package and the two ways to write one: a directory or a zip file.

A package holds::

    data.xml | data.json      the XÖV message (Fachdaten), as the sender encrypted it
    metadata.json             the FIT-Connect metadata
    attachments/<name>        each attachment under a sanitised, unique name
    manifest.json             ids, service, schema, timestamps, and size + SHA-512 of every file

``manifest.json`` is written last. Writers stream attachments chunk by chunk and fsync what they
wrote; they write into a temporary location that the caller publishes atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from gateway.adapters import PermanentDeliveryError, Submission, safe_filename, unique_filename

DATA_NAMES = {"application/xml": "data.xml", "text/xml": "data.xml", "application/json": "data.json"}


class PackageWriter(Protocol):
    """Somewhere to put the files of one package."""

    async def add(self, name: str, chunks: AsyncIterator[bytes]) -> tuple[int, str]:
        """Write ``chunks`` as ``name`` (``/``-separated); return size and SHA-512 hex."""
        ...

    async def commit(self) -> None:
        """Finish and make everything durable (fsync)."""
        ...

    def discard(self) -> None:
        """Forget everything written; never raises."""
        ...


async def build(submission: Submission, writer: PackageWriter, delivered_at: datetime) -> dict[str, Any]:
    """Write the whole package of ``submission`` to ``writer``; return the manifest.

    Raises :class:`PermanentDeliveryError` if an attachment's content does not match the SHA-512
    or size its metadata declared.
    """
    files: list[dict[str, Any]] = []
    data_name = DATA_NAMES.get(submission.mime_type, "data.bin")
    size, digest = await writer.add(data_name, _once(submission.data))
    files.append(
        {"path": data_name, "role": "data", "mimeType": submission.mime_type, "size": size, "sha512": digest}
    )
    metadata = json.dumps(dict(submission.metadata), ensure_ascii=False, indent=2).encode()
    size, digest = await writer.add("metadata.json", _once(metadata))
    files.append(
        {
            "path": "metadata.json",
            "role": "metadata",
            "mimeType": "application/json",
            "size": size,
            "sha512": digest,
        }
    )
    taken: set[str] = set()
    for index, attachment in enumerate(submission.attachments, start=1):
        name = unique_filename(safe_filename(attachment.filename, fallback=f"attachment-{index}"), taken)
        taken.add(name.casefold())
        size, digest = await writer.add(f"attachments/{name}", attachment.open())
        if digest != attachment.sha512.lower() or attachment.size not in (None, size):
            raise PermanentDeliveryError(
                f"attachment {attachment.attachment_id}: content does not match its metadata (SHA-512/size)"
            )
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
        "submissionId": submission.submission_id,
        "caseId": submission.case_id,
        "destinationId": submission.destination_id,
        "service": {"identifier": submission.service.identifier, "name": submission.service.name},
        "schemaUri": submission.schema_uri,
        "mimeType": submission.mime_type,
        "submittedAt": submission.submitted_at.isoformat() if submission.submitted_at else None,
        "deliveredAt": delivered_at.isoformat(),
        "files": files,
    }
    await writer.add("manifest.json", _once(json.dumps(manifest, ensure_ascii=False, indent=2).encode()))
    return manifest


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _write_all(handle: BinaryIO, chunk: bytes) -> None:
    handle.write(chunk)


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirectoryWriter:
    """Writes the package as files under ``root`` (a fresh temporary directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(mode=0o750)
        self._dirs = {root}

    async def add(self, name: str, chunks: AsyncIterator[bytes]) -> tuple[int, str]:
        path = self.root / name
        if path.parent not in self._dirs:
            path.parent.mkdir(mode=0o750)
            self._dirs.add(path.parent)
        digest, size = hashlib.sha512(), 0
        handle = await asyncio.to_thread(open, path, "xb")
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(_write_all, handle, chunk)
            await asyncio.to_thread(_flush_and_sync, handle)
        finally:
            handle.close()
        return size, digest.hexdigest()

    async def commit(self) -> None:
        for directory in sorted(self._dirs, key=lambda d: len(d.parts), reverse=True):
            await asyncio.to_thread(fsync_dir, directory)

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class ZipWriter:
    """Writes the package as one zip file at ``path`` (a fresh temporary file)."""

    def __init__(self, path: Path, timestamp: datetime) -> None:
        self.path = path
        t = timestamp
        self._date_time = (t.year, t.month, t.day, t.hour, t.minute, t.second)
        self._zip = zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    async def add(self, name: str, chunks: AsyncIterator[bytes]) -> tuple[int, str]:
        info = zipfile.ZipInfo(name, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o640 << 16
        digest, size = hashlib.sha512(), 0
        with self._zip.open(info, "w", force_zip64=True) as member:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(member.write, chunk)
        return size, digest.hexdigest()

    async def commit(self) -> None:
        await asyncio.to_thread(self._zip.close)
        await asyncio.to_thread(_sync_path, self.path)

    def discard(self) -> None:
        with contextlib.suppress(Exception):  # a half-written archive may fail to close; it goes anyway
            self._zip.close()
        self.path.unlink(missing_ok=True)


def _flush_and_sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_path(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
