"""Realistic submissions for tests: an XBau building-permit application with a site plan PDF.

Re-exported from :mod:`gateway.adapters.testing`; imports nothing from pytest.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from gateway.adapters.submission import AttachmentView, AuthenticationTags, Service, Submission

LEIKA_BAUGENEHMIGUNG = "urn:de:fim:leika:leistung:99066006001000"
XBAU_SCHEMA_URI = "urn:xoev-de:bmk:standard:xbau_2.6"
METADATA_SCHEMA = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"

#: Sender-chosen attachment names an adapter must survive without writing outside its target.
HOSTILE_FILENAMES: tuple[str | None, ...] = (
    "../../escape-rel",
    "..\\..\\escape-win",
    "CON",
    "con.txt",
    "LPT1.pdf",
    "NUL.tar.gz",
    "bauantrag\x00.pdf",
    "A" * 10_000 + ".pdf",
    "rechnung\u202efdp.exe",
    "zeile\r\nContent-Type: text/html",
    ".",
    "..",
    "",
    None,
    ".htaccess",
    "   ",
    "-rf",
    "Lageplan.pdf",
    "lageplan.PDF",
    "Lageplan.pdf",
    "Grundriß Erdgeschoß.pdf",
)


def sample_bytes(name: str) -> bytes:
    """Packaged sample data: ``xbau-baugenehmigung-antrag.xml`` or ``lageplan.pdf``."""
    return resources.files("gateway").joinpath("data", name).read_bytes()


def make_submission(
    *,
    submission_id: str | None = None,
    attachments: Sequence[AttachmentView] | None = None,
    data: bytes | None = None,
) -> Submission:
    """An XBau 2.6 building-permit submission with a PDF site plan, consistent metadata and tags.

    ``attachments`` replaces the default site plan; ``data`` replaces the XBau message.
    """
    submission_id = submission_id or str(uuid.uuid4())
    data = sample_bytes("xbau-baugenehmigung-antrag.xml") if data is None else data
    if attachments is None:
        attachments = [
            AttachmentView.from_bytes(
                sample_bytes("lageplan.pdf"),
                attachment_id=str(uuid.uuid4()),
                filename="lageplan.pdf",
                mime_type="application/pdf",
                chunk_size=256,
            )
        ]
    service = Service(LEIKA_BAUGENEHMIGUNG, "Baugenehmigung")
    return Submission(
        submission_id=submission_id,
        case_id=str(uuid.uuid4()),
        destination_id="4b2b7c2e-9f57-4d1a-9a3c-1f0e5d8c7a01",
        service=service,
        schema_uri=XBAU_SCHEMA_URI,
        mime_type="application/xml",
        data=data,
        metadata=_metadata(service, data, attachments),
        attachments=tuple(attachments),
        authentication_tags=AuthenticationTags(
            metadata=_tag("metadata", submission_id),
            data=_tag("data", submission_id),
            attachments={a.attachment_id: _tag(a.attachment_id, submission_id) for a in attachments},
        ),
        submitted_at=datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC),
    )


def _metadata(service: Service, data: bytes, attachments: Sequence[AttachmentView]) -> dict[str, Any]:
    return {
        "$schema": METADATA_SCHEMA,
        "contentStructure": {
            "data": {
                "hash": {"type": "sha512", "content": hashlib.sha512(data).hexdigest()},
                "submissionSchema": {"schemaUri": XBAU_SCHEMA_URI, "mimeType": "application/xml"},
            },
            "attachments": [
                {
                    "hash": {"type": "sha512", "content": a.sha512},
                    "purpose": a.purpose,
                    "mimeType": a.mime_type,
                    "attachmentId": a.attachment_id,
                    **({"filename": a.filename} if a.filename is not None else {}),
                }
                for a in attachments
            ],
        },
        "publicServiceType": {"name": service.name, "identifier": service.identifier},
    }


def _tag(part: str, submission_id: str) -> str:
    return hashlib.sha256(f"{part}:{submission_id}".encode()).hexdigest()[:22]


class StreamProbe:
    """A large attachment generated chunk by chunk, counting how the adapter reads it."""

    def __init__(self, size: int, chunk_size: int = 64 * 1024) -> None:
        self.size = size
        self.chunk_size = chunk_size
        self.opens = 0
        self.complete_passes = 0
        self.max_chunks_read = 0
        digest = hashlib.sha512()
        for chunk in self._chunks():
            digest.update(chunk)
        self.sha512 = digest.hexdigest()

    def _chunks(self) -> Iterator[bytes]:
        for index, start in enumerate(range(0, self.size, self.chunk_size)):
            yield bytes([index % 251]) * min(self.chunk_size, self.size - start)

    async def open(self) -> AsyncIterator[bytes]:
        """The :data:`Opener` to put into an :class:`AttachmentView`."""
        self.opens += 1
        for read, chunk in enumerate(self._chunks(), start=1):
            yield chunk
            self.max_chunks_read = max(self.max_chunks_read, read)
        self.complete_passes += 1

    def attachment(self, filename: str = "scan.tiff") -> AttachmentView:
        """An attachment view streaming this probe."""
        return AttachmentView(
            attachment_id=str(uuid.uuid4()),
            filename=filename,
            mime_type="image/tiff",
            purpose="attachment",
            sha512=self.sha512,
            size=self.size,
            opener=self.open,
        )
