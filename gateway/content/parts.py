"""The encrypted parts of a submission and their decryption into what the checks need.

A part is a compact JWE either in memory (the dry run gets it in the request body) or in a
blob file (the stage reads what intake stored). Metadata and data are decrypted into memory
(their size is bounded by intake); attachments are decrypted as a stream into a SHA-512
hasher, so only their hash is ever kept.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from gateway.content.problems import Problem, attachment
from gateway.crypto.jwe import DecryptionError, DecryptionKeys, decrypt_stream

__all__ = ["OpenedParts", "Sealed", "SealedParts", "open_parts", "stored_tag"]

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


def _plaintext(sealed: Sealed, keys: DecryptionKeys, max_inflated: int) -> bytes:
    chunks: list[bytes] = []
    with sealed.open() as source:
        decrypt_stream(source, keys, chunks.append, max_inflated=max_inflated)
    return b"".join(chunks)


def _sha512(sealed: Sealed, keys: DecryptionKeys, max_inflated: int) -> str:
    hasher = hashlib.sha512()
    with sealed.open() as source:
        decrypt_stream(source, keys, hasher.update, max_inflated=max_inflated)
    return hasher.hexdigest()


def open_parts(
    parts: SealedParts, keys: DecryptionKeys, *, max_inflated: int
) -> tuple[OpenedParts | None, list[Problem]]:
    """Decrypt every part; each part that fails is one ``encryption-issue`` problem.

    Returns the opened parts when all decrypted, else ``None`` and the problems. Blocking
    (CPU and file I/O): run it in a worker thread.
    """
    problems: list[Problem] = []
    detail = DecryptionError.MESSAGE

    def failed(instance: str) -> None:
        problems.append(Problem("encryption-issue", instance, detail))

    metadata = data = None
    try:
        metadata = _plaintext(parts.metadata, keys, max_inflated)
    except DecryptionError:
        failed("metadata")
    if parts.data is not None:
        try:
            data = _plaintext(parts.data, keys, max_inflated)
        except DecryptionError:
            failed("data")
    hashes: dict[str, str] = {}
    for attachment_id, sealed in parts.attachments.items():
        try:
            hashes[attachment_id] = _sha512(sealed, keys, max_inflated)
        except DecryptionError:
            failed(attachment(attachment_id))
    if problems or metadata is None:
        return None, problems
    return OpenedParts(metadata, data, hashes), []
