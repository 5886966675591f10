"""Ciphertext blobs on the local filesystem.

Names are generated here (uuid4 hex), never taken from a client. A blob is written to a temporary
file in chunks, fsynced, then renamed into place, so a reader never sees half a blob and a crash
leaves at most a temporary file behind.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

_NAME = re.compile(r"^[0-9a-f]{32}$")
CHUNK = 1024 * 1024


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
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
        final.parent.mkdir(exist_ok=True)
        tmp = final.with_name(f".{name}.part")
        size = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            pending = bytearray()
            async for chunk in chunks:
                inspect(chunk)
                size += len(chunk)
                pending += chunk
                if len(pending) >= CHUNK:
                    await asyncio.to_thread(_write_all, fd, bytes(pending))
                    pending.clear()
            if pending:
                await asyncio.to_thread(_write_all, fd, bytes(pending))
            await asyncio.to_thread(os.fsync, fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, final)
        return name, size

    async def write_bytes(self, data: bytes) -> str:
        async def one() -> AsyncIterator[bytes]:
            yield data

        name, _ = await self.write_stream(one(), lambda _chunk: None)
        return name

    def read_bytes(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
