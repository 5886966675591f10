"""What an adapter receives and returns: the decrypted, validated view of one submission.

The runner builds a :class:`Submission` after the validator accepted it. Metadata and data are
small and arrive as values; attachments can be large and arrive as :class:`AttachmentView`\\ s whose
:meth:`AttachmentView.open` streams the plaintext, decrypting from the blob store as it goes.
Nothing here is trusted for file-system use: ``filename`` is whatever the sender wrote (see
:func:`gateway.adapters.attachment_filenames`). The metadata fields a Fachverfahren acts on have
typed views: :attr:`Submission.sender_reference`, :attr:`Submission.reply_channel`,
:attr:`Submission.payment`.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.adapters import metadata as fields
from gateway.adapters.metadata import Payment, ReplyChannel

#: A callable that starts a fresh plaintext stream of one attachment each time it is called.
Opener = Callable[[], AsyncIterator[bytes]]


@dataclass(frozen=True, slots=True)
class Service:
    """The public service (Verwaltungsleistung) the submission is for."""

    identifier: str  #: LeiKa URN, e.g. ``urn:de:fim:leika:leistung:99066006001000``
    #: the name the operator configured for the service, e.g. ``Baugenehmigung`` (the sender's
    #: free text only where none is configured)
    name: str = ""


@dataclass(frozen=True, slots=True)
class AuthenticationTags:
    """The JWE authentication tags the gateway reports in the ``accept-submission`` event."""

    metadata: str
    data: str
    attachments: Mapping[str, str] = field(default_factory=dict)  #: attachment id → tag


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentView:
    """One attachment: its declared properties and a way to stream its plaintext.

    ``filename`` and ``mime_type`` come from the sender and are never trusted; ``sha512`` and
    ``size`` are what the metadata declared and the validator verified (``size`` may be unknown).
    """

    attachment_id: str
    filename: str | None
    mime_type: str
    purpose: str  #: ``form`` | ``attachment`` | ``report`` (FIT-Connect metadata)
    sha512: str  #: lower-case hex
    size: int | None = None
    opener: Opener = field(repr=False, compare=False)

    async def open(self) -> AsyncIterator[bytes]:
        """Stream the plaintext in chunks. Each call starts again from the first byte.

        Errors of the underlying store propagate unchanged (an adapter need not catch them).
        """
        stream = self.opener()
        try:
            async for chunk in stream:
                yield chunk
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    @classmethod
    def from_bytes(
        cls,
        content: bytes,
        *,
        attachment_id: str,
        filename: str | None = None,
        mime_type: str = "application/octet-stream",
        purpose: str = "attachment",
        chunk_size: int = 64 * 1024,
    ) -> AttachmentView:
        """An in-memory attachment (tests, demos); hash and size are computed from ``content``."""

        async def opener() -> AsyncIterator[bytes]:
            for start in range(0, len(content), chunk_size):
                yield content[start : start + chunk_size]

        return cls(
            attachment_id=attachment_id,
            filename=filename,
            mime_type=mime_type,
            purpose=purpose,
            sha512=hashlib.sha512(content).hexdigest(),
            size=len(content),
            opener=opener,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """A validated, decrypted submission, as handed to :meth:`Adapter.deliver`.

    ``submission_id`` is the idempotency key: the runner may deliver the same submission more than
    once (retries, redelivery after a crash), and the adapter must make the second time a no-op.
    """

    submission_id: str
    case_id: str  #: the FIT-Connect case (Vorgang) this submission belongs to
    destination_id: str
    service: Service
    schema_uri: str  #: e.g. ``urn:xoev-de:bmk:standard:xbau_2.6``
    mime_type: str  #: media type of ``data``: ``application/xml`` or ``application/json``
    data: bytes  #: the Fachdaten (XÖV message), plaintext
    authentication_tags: AuthenticationTags
    metadata: Mapping[str, Any] = field(default_factory=dict)  #: the parsed FIT-Connect metadata document
    attachments: Sequence[AttachmentView] = ()
    submitted_at: datetime | None = None  #: when the sender submitted it, if known

    def describe(self) -> dict[str, Any]:
        """Ids, service, schema and submission time as JSON values: what a package manifest or
        a delivery envelope names about the submission (never its content)."""
        return {
            "submissionId": self.submission_id,
            "caseId": self.case_id,
            "destinationId": self.destination_id,
            "service": {"identifier": self.service.identifier, "name": self.service.name},
            "schemaUri": self.schema_uri,
            "mimeType": self.mime_type,
            "submittedAt": self.submitted_at.isoformat() if self.submitted_at else None,
        }

    @property
    def idempotency_key(self) -> str:
        """The key under which a Fachverfahren should deduplicate: the submission id."""
        return self.submission_id

    @property
    def sender_reference(self) -> str | None:
        """The sender's own reference for the case (``additionalReferenceInfo.senderReference``)."""
        return fields.sender_reference(self.metadata)

    @property
    def reply_channel(self) -> ReplyChannel | None:
        """Where the applicant wants the answer (``replyChannel``), if given."""
        return fields.reply_channel(self.metadata)

    @property
    def payment(self) -> Payment | None:
        """What the payment service reported (``paymentInformation``), if anything."""
        return fields.payment(self.metadata)


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of a successful delivery: the Fachverfahren's own reference, if it gave one."""

    reference: str | None = None  #: e.g. the vendor's record id, a file name, a ticket number
    detail: str | None = None  #: a short, human-readable note for operators
