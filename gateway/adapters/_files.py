"""Durable file writing for :mod:`gateway.adapters.package`: streamed, fsynced, published once.

Writers put the files of one package into a temporary location (a directory or a zip file) and
make them durable; :func:`publish` then gives the package its final name without ever replacing
an existing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import shutil
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol


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


async def write_file(path: Path, chunks: AsyncIterator[bytes]) -> tuple[int, str]:
    """Stream ``chunks`` into the new file ``path`` and fsync it; return size and SHA-512 hex."""
    digest, size = hashlib.sha512(), 0
    handle = await asyncio.to_thread(open, path, "xb")
    try:
        async for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(_flush_and_sync, handle)
    finally:
        handle.close()
    return size, digest.hexdigest()


async def once(data: bytes) -> AsyncIterator[bytes]:
    """``data`` as a stream of one chunk."""
    yield data


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
        return await write_file(path, chunks)

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


def publish(temp: Path, target: Path) -> bool:
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


def remove(path: Path) -> None:
    """Delete the file or directory tree ``path``."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


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


def _flush_and_sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_path(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
