"""The decrypted view an adapter receives, built from the stored ciphertext.

Metadata and data are decrypted into memory (they are bounded); attachments are decrypted on
demand as a stream, in a worker thread, so an adapter can pass a 500 MB attachment on without
holding it. The ciphertext is the one the validator accepted; blobs are never rewritten.

Each part is opened with the content key the validate stage re-wrapped (:class:`PartKeys`: an
AES-GCM unwrap, no RSA), every wrapped key checked before the adapter sees anything; a part
without one (validated before keys were kept, or its wrap key removed) is opened with the
destination's RSA keys as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from gateway.adapters import AttachmentView, AuthenticationTags, Opener, Service, Submission
from gateway.content.problems import attachment as attachment_part
from gateway.crypto.jwe import DecryptionKeys, decrypt_file, decrypt_file_with_key
from gateway.crypto.keywrap import UnknownWrapKeyError, WrapKeys, WrappedKey, part_binding
from gateway.store.blobs import BlobStore
from gateway.store.content_keys import StoredKey
from gateway.store.models import Submission as SubmissionRow

log = structlog.get_logger()
Sink = Callable[[bytes], None]
#: Decrypts one part into a sink (blocking; raises ``DecryptionError``).
Decrypt = Callable[[Sink], object]


class _Abandoned(Exception):
    """The reader stopped early; the decrypting thread gives up."""


@dataclass(frozen=True)
class PartKeys:
    """How one submission's parts are opened: the destination's RSA keys, and the content keys
    the validate stage stored wrapped (by part: ``metadata``, ``data``, ``attachment:<id>``)."""

    submission_id: str
    rsa: DecryptionKeys
    wrap_keys: WrapKeys
    stored: Mapping[str, StoredKey]
    max_inflated: int

    def decrypt(self, part: str, blobs: BlobStore, blob: str) -> Decrypt:
        """The part's decryption. A stored key is unwrapped now: altered or moved from another
        part it raises :class:`~gateway.crypto.keywrap.ContentKeyError` before any plaintext."""
        path, limit = blobs.path(blob), self.max_inflated
        key = self.stored.get(part)
        if key is not None:
            try:
                cek = self.wrap_keys.unwrap(
                    WrappedKey(key.kid, key.wrapped), part_binding(self.submission_id, part, blob)
                )
            except UnknownWrapKeyError:
                log.warning("wrap_key_missing", part=part, wrap_kid=key.kid)
            else:
                return lambda sink: decrypt_file_with_key(path, cek, sink, max_inflated=limit)
        return lambda sink: decrypt_file(path, self.rsa, sink, max_inflated=limit)


def stream_opener(decrypt: Decrypt) -> Opener:
    """An opener that streams the plaintext ``decrypt`` produces (bounded buffering)."""

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
                decrypt(put)
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


def _plaintext(decrypt: Decrypt) -> bytes:
    parts: list[bytes] = []
    decrypt(parts.append)
    return b"".join(parts)


def build_view(
    row: SubmissionRow,
    blobs: BlobStore,
    attachment_blobs: dict[str, str],
    keys: PartKeys,
    service_name: str = "",
) -> Submission:
    """The adapter's view of a validated submission (blocking: call in a thread); ``service_name``
    is the configured name of its service (the sender's free text is used when it is empty).
    Raises ``DecryptionError`` or ``ContentKeyError`` (:meth:`PartKeys.decrypt`)."""
    assert row.metadata_blob is not None
    openers = {
        attachment_part(aid): stream_opener(keys.decrypt(attachment_part(aid), blobs, blob))
        for aid, blob in attachment_blobs.items()
    }  # every stored key checked before the adapter sees anything
    metadata: dict[str, Any] = json.loads(_plaintext(keys.decrypt("metadata", blobs, row.metadata_blob)))
    structure = metadata.get("contentStructure", {})
    data_info = structure.get("data") or {}
    schema = data_info.get("submissionSchema") or {}
    data = _plaintext(keys.decrypt("data", blobs, row.data_blob)) if row.data_blob else b""
    tags = row.authentication_tags or {}
    attachments = [
        AttachmentView(
            attachment_id=a["attachmentId"],
            filename=a.get("filename"),
            mime_type=a.get("mimeType", "application/octet-stream"),
            purpose=a.get("purpose", "attachment"),
            sha512=a["hash"]["content"],
            opener=openers[attachment_part(a["attachmentId"])],
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
