"""Ciphertext blobs on the local filesystem.

Names are generated here (uuid4 hex), never taken from a client. A blob is written to a temporary
file in blocks of ``CHUNK`` bytes (each one write call in a worker thread, without copying the
buffer), fsynced once, then renamed into place, so a reader never sees half a blob and a crash
leaves at most a temporary file behind (``.<name>.part``, removed by :meth:`BlobStore.sweep`).

A failing disk is translated here, once: no space (``ENOSPC``, ``EDQUOT``) is ``StorageFullError``
(507), any other write error ``ServiceUnavailableError`` (503); the partial file is removed first.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ServiceUnavailableError, StorageFullError, UnavailableError

_NAME = re.compile(r"^[0-9a-f]{32}$")
_PART = re.compile(r"^\.[0-9a-f]{32}\.part$")
_SHARD = re.compile(r"^[0-9a-f]{2}$")
CHUNK = 4 * 1024 * 1024  #: bytes gathered per write call (bounds an upload's buffer)
_FULL = {errno.ENOSPC, errno.EDQUOT}


def _disk_error(exc: OSError) -> UnavailableError:
    if exc.errno in _FULL:
        return StorageFullError(f"blob store full: {exc.strerror or exc}")
    return ServiceUnavailableError(f"blob store failed: {exc.strerror or exc}")


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)  # released on return (refcount), so the caller may clear a bytearray
    while view:
        view = view[os.write(fd, view) :]


class BlobStore:
    """Write-once files under ``root/<2 hex>/<32 hex>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError("invalid blob name")
        return self.root / name[:2] / name

    async def write_stream(
        self, chunks: AsyncIterator[bytes], inspect: Callable[[bytes], None]
    ) -> tuple[str, int]:
        """Store a stream; ``inspect`` sees each chunk first and may raise to abort (nothing is kept)."""
        name = uuid.uuid4().hex
        final = self.path(name)
        tmp = final.with_name(f".{name}.part")
        try:
            final.parent.mkdir(exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _disk_error(exc) from exc
        size = 0
        try:
            pending = bytearray()
            async for chunk in chunks:
                inspect(chunk)
                size += len(chunk)
                pending += chunk
                if len(pending) >= CHUNK:
                    await asyncio.to_thread(_write_all, fd, pending)  # pending waits for it: no copy
                    pending.clear()
            if pending:
                await asyncio.to_thread(_write_all, fd, pending)
            await asyncio.to_thread(os.fsync, fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, final)
        except BaseException as exc:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _disk_error(exc) from exc
            raise
        return name, size

    async def write_bytes(self, data: bytes) -> str:
        async def one() -> AsyncIterator[bytes]:
            yield data

        name, _ = await self.write_stream(one(), lambda _chunk: None)
        return name

    def read_bytes(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def delete(self, name: str) -> None:
        """Remove a blob; a missing one is not an error (deletes are repeated safely)."""
        self.path(name).unlink(missing_ok=True)

    async def sweep(self, referenced: Callable[[], Awaitable[Collection[str]]], older_than: float) -> Swept:
        """Remove ``.part`` files and blobs not in ``referenced()`` whose last write is before
        ``older_than`` (a POSIX time). ``referenced`` is asked after the files are listed, so a
        blob whose row commits meanwhile is kept."""
        parts, blobs = await asyncio.to_thread(self._stale, older_than)
        kept = await referenced() if blobs else ()
        orphans = [path for path in blobs if path.name not in kept]
        await asyncio.to_thread(_unlink_all, [*parts, *orphans])
        return Swept(parts=len(parts), orphans=len(orphans))

    def _stale(self, older_than: float) -> tuple[list[Path], list[Path]]:
        parts: list[Path] = []
        blobs: list[Path] = []
        for shard in self.root.iterdir():
            if not (_SHARD.match(shard.name) and shard.is_dir()):
                continue
            for entry in shard.iterdir():
                found = parts if _PART.match(entry.name) else blobs if _NAME.match(entry.name) else None
                if found is not None and _modified(entry) < older_than:
                    found.append(entry)
        return parts, blobs

    def count(self) -> int:
        """Blobs stored (``.part`` files not counted)."""
        return sum(1 for path in self.root.glob("??/*") if _NAME.match(path.name))


@dataclass(frozen=True)
class Swept:
    """What :meth:`BlobStore.sweep` removed."""

    parts: int
    orphans: int


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # renamed or removed meanwhile
        return float("inf")
