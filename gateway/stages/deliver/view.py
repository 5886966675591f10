"""The decrypted view an adapter receives, built from the stored ciphertext.

Metadata and data are decrypted into memory (they are bounded); attachments are decrypted on
demand as a stream, in a worker thread, so an adapter can pass a 500 MB attachment on without
holding it. The ciphertext is the one the validator accepted; blobs are never rewritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gateway.adapters import AttachmentView, AuthenticationTags, Opener, Service, Submission
from gateway.crypto.jwe import DecryptionKeys, decrypt_file
from gateway.store.blobs import BlobStore
from gateway.store.models import Submission as SubmissionRow


class _Abandoned(Exception):
    """The reader stopped early; the decrypting thread gives up."""


def stream_opener(path: Path, keys: DecryptionKeys, max_inflated: int) -> Opener:
    """An opener that streams the plaintext of the JWE at ``path`` (bounded buffering)."""

    async def open_stream() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=4)
        abandoned = threading.Event()

        def put(item: bytes | BaseException | None) -> None:
            if abandoned.is_set():
                raise _Abandoned()
            asyncio.run_coroutine_threadsafe(chunks.put(item), loop).result()

        def work() -> None:
            try:
                decrypt_file(path, keys, put, max_inflated=max_inflated)
                put(None)
            except _Abandoned:
                pass
            except BaseException as exc:  # handed to the reader, raised there
                with contextlib.suppress(_Abandoned):
                    put(exc)

        worker = loop.run_in_executor(None, work)
        try:
            while (item := await chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            abandoned.set()
            while not chunks.empty():
                chunks.get_nowait()
            await worker

    return open_stream


def _decrypt(path: Path, keys: DecryptionKeys, max_inflated: int) -> bytes:
    parts: list[bytes] = []
    decrypt_file(path, keys, parts.append, max_inflated=max_inflated)
    return b"".join(parts)


def build_view(
    row: SubmissionRow,
    blobs: BlobStore,
    attachment_blobs: dict[str, str],
    keys: DecryptionKeys,
    max_inflated: int,
    service_name: str = "",
) -> Submission:
    """The adapter's view of a validated submission (blocking: call in a thread); ``service_name``
    is the configured name of its service (the sender's free text is used when it is empty)."""
    assert row.metadata_blob is not None
    metadata: dict[str, Any] = json.loads(_decrypt(blobs.path(row.metadata_blob), keys, max_inflated))
    structure = metadata.get("contentStructure", {})
    data_info = structure.get("data") or {}
    schema = data_info.get("submissionSchema") or {}
    data = _decrypt(blobs.path(row.data_blob), keys, max_inflated) if row.data_blob else b""
    tags = row.authentication_tags or {}
    attachments = [
        AttachmentView(
            attachment_id=a["attachmentId"],
            filename=a.get("filename"),
            mime_type=a.get("mimeType", "application/octet-stream"),
            purpose=a.get("purpose", "attachment"),
            sha512=a["hash"]["content"],
            opener=stream_opener(blobs.path(attachment_blobs[a["attachmentId"]]), keys, max_inflated),
        )
        for a in structure.get("attachments", [])
    ]
    return Submission(
        submission_id=row.id,
        case_id=row.case_id,
        destination_id=row.destination_id,
        service=Service(row.service_identifier, service_name or row.service_name),
        schema_uri=schema.get("schemaUri", ""),
        mime_type=schema.get("mimeType", ""),
        data=data,
        authentication_tags=AuthenticationTags(
            metadata=tags.get("metadata", ""),
            data=tags.get("data", ""),
            attachments=tags.get("attachments", {}),
        ),
        metadata=metadata,
        attachments=attachments,
        submitted_at=row.submitted_at,
    )
