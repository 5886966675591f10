"""The encrypted parts of a submission and their decryption into what the checks need.

A part is a compact JWE either in memory (the dry run gets it in the request body) or in a
blob file (the stage reads what intake stored). Metadata and data are decrypted into memory,
within one plaintext budget per submission (:class:`PlaintextLimits`); attachments are
decrypted as a stream into a SHA-512 hasher, so only their hash is ever kept. A meter that keeps
keys also remembers each part's content key, for the validate stage to re-wrap.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from gateway.config.settings import Limits
from gateway.content.problems import Problem, attachment
from gateway.crypto.jwe import DecryptionError, DecryptionKeys, open_stream

__all__ = [
    "OpenedParts",
    "PlaintextLimits",
    "PlaintextMeter",
    "Sealed",
    "SealedParts",
    "open_parts",
    "stored_tag",
]

_TAIL = 64


@dataclass(frozen=True)
class Sealed:
    """One compact JWE: ``token`` in memory, or the blob file at ``path``."""

    token: bytes | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        if (self.token is None) == (self.path is None):
            raise ValueError("a sealed part is either a token or a file")

    @classmethod
    def of_token(cls, token: str) -> Sealed:
        """An in-memory token; non-ASCII text cannot be a compact JWE and fails decryption later."""
        return cls(token=token.encode("utf-8"))

    @classmethod
    def of_file(cls, path: Path) -> Sealed:
        return cls(path=path)

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """A seekable binary stream of the JWE text. ``OSError`` (missing blob) propagates."""
        if self.token is not None:
            yield io.BytesIO(self.token)
            return
        assert self.path is not None
        with self.path.open("rb") as source:
            yield source


@dataclass(frozen=True)
class SealedParts:
    """Everything a sender encrypted for one submission; attachments in announced order."""

    metadata: Sealed
    data: Sealed | None = None
    attachments: Mapping[str, Sealed] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenedParts:
    """Verified plaintexts of metadata and data, and the SHA-512 (hex) of each attachment."""

    metadata: bytes
    data: bytes | None
    attachment_hashes: Mapping[str, str]


def stored_tag(path: Path) -> str | None:
    """The authentication tag (5th segment) of the compact JWE in a blob file, as stored."""
    with path.open("rb") as source:
        source.seek(0, io.SEEK_END)
        source.seek(max(source.tell() - _TAIL, 0))
        tail = source.read()
    if b"." not in tail:
        return None
    return tail.rsplit(b".", 1)[1].decode("ascii", "replace")


@dataclass(frozen=True)
class PlaintextLimits:
    """How much plaintext the parts of one submission may decrypt (and inflate) to.

    Metadata and data are held whole in memory to be checked, so their plaintext counts against
    one budget per submission (``in_memory``); attachments only stream through a hasher
    (``attachment`` each). A dry run also caps all parts together (``total``).
    """

    metadata: int
    in_memory: int
    attachment: int
    total: int | None = None

    @classmethod
    def of(cls, limits: Limits, *, dry_run: bool = False) -> PlaintextLimits:
        return cls(
            metadata=min(limits.max_metadata_bytes, limits.max_inflated_bytes),
            in_memory=limits.max_inflated_bytes,
            attachment=limits.max_attachment_bytes,
            total=limits.max_dry_run_plaintext_bytes if dry_run else None,
        )


class PlaintextMeter:
    """Counts the plaintext of every part of one submission against its limits (``total``: all
    the plaintext it let through); with ``keep_keys`` also the content key of each part that
    decrypted (``content_keys``, by part: ``metadata``, ``data``, ``attachment:<id>``)."""

    def __init__(self, limits: PlaintextLimits, *, keep_keys: bool = False) -> None:
        self.limits = limits
        self.total = 0
        self.keep_keys = keep_keys
        self.content_keys: dict[str, bytes] = {}

    def decrypt(
        self,
        sealed: Sealed,
        keys: DecryptionKeys,
        sink: Callable[[bytes], object],
        limit: int,
        part: str = "",
    ) -> int:
        """Decrypt ``sealed`` into ``sink``; more than ``limit`` bytes (or over the total) fails
        as a :class:`DecryptionError`, as soon as it is exceeded. Returns the plaintext size."""
        size = 0

        def counted(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            self.total += len(chunk)
            if size > limit or (self.limits.total is not None and self.total > self.limits.total):
                raise DecryptionError()
            sink(chunk)

        with sealed.open() as source:
            opened = open_stream(source, keys, counted, max_inflated=limit)
        if self.keep_keys:
            self.content_keys[part] = opened.content_key
        return size

    def plaintext(self, sealed: Sealed, keys: DecryptionKeys, limit: int, part: str = "") -> bytes:
        buffer = io.BytesIO()  # getvalue() hands over its buffer: no second copy
        self.decrypt(sealed, keys, buffer.write, limit, part)
        return buffer.getvalue()

    def sha512(self, sealed: Sealed, keys: DecryptionKeys, part: str = "") -> str:
        hasher = hashlib.sha512()
        self.decrypt(sealed, keys, hasher.update, self.limits.attachment, part)
        return hasher.hexdigest()


def open_parts(
    parts: SealedParts, keys: DecryptionKeys, meter: PlaintextMeter
) -> tuple[OpenedParts | None, list[Problem]]:
    """Decrypt every part; each part that fails (or exceeds the meter's limits) is one
    ``encryption-issue`` problem.

    Returns the opened parts when all decrypted, else ``None`` and the problems. Blocking
    (CPU and file I/O): run it in a worker thread.
    """
    problems: list[Problem] = []
    detail = DecryptionError.MESSAGE

    def failed(instance: str) -> None:
        problems.append(Problem("encryption-issue", instance, detail))

    metadata = data = None
    try:
        metadata = meter.plaintext(parts.metadata, keys, meter.limits.metadata, "metadata")
    except DecryptionError:
        failed("metadata")
    if parts.data is not None:
        try:
            data = meter.plaintext(parts.data, keys, meter.limits.in_memory - len(metadata or b""), "data")
        except DecryptionError:
            failed("data")
    hashes: dict[str, str] = {}
    for attachment_id, sealed in parts.attachments.items():
        try:
            hashes[attachment_id] = meter.sha512(sealed, keys, attachment(attachment_id))
        except DecryptionError:
            failed(attachment(attachment_id))
    if problems or metadata is None:
        return None, problems
    return OpenedParts(metadata, data, hashes), []
