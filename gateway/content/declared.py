"""What validated metadata declares, read in one place from the 1.x and the 2.x structure.

Both majors keep ``contentStructure`` (``data`` with ``hash`` and ``submissionSchema``,
``attachments`` with ``attachmentId`` and ``hash``); the service moved from 1.x's
``publicServiceType`` to 2.x's ``publicService``, and 2.x may leave ``attachments`` out.
``replyChannel``, ``paymentInformation`` and ``authenticationInformation`` keep their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.validation import ValidatedMetadata

__all__ = ["Declared", "DeclaredAttachment", "DeclaredData"]

_SERVICE_KEY = {1: "publicServiceType", 2: "publicService"}


@dataclass(frozen=True)
class DeclaredData:
    """The data part: SHA-512 (hex) and submission schema."""

    sha512: str | None
    schema_uri: str | None
    mime_type: str | None


@dataclass(frozen=True)
class DeclaredAttachment:
    """One attachment: id (lower case) and SHA-512 (hex)."""

    attachment_id: str
    sha512: str | None


@dataclass(frozen=True)
class Declared:
    """The facts the content checks rely on."""

    service_identifier: str | None
    data: DeclaredData | None
    attachments: tuple[DeclaredAttachment, ...]
    reply_channel: str | None = None  #: the one key of ``replyChannel``
    payment: dict[str, Any] | None = None
    authentication: tuple[dict[str, Any], ...] = ()

    @classmethod
    def of(cls, metadata: ValidatedMetadata) -> Declared:
        document: dict[str, Any] = dict(metadata.document)
        content = _object(document.get("contentStructure"))
        data = None
        if "data" in content:
            part = _object(content["data"])
            schema = _object(part.get("submissionSchema"))
            data = DeclaredData(_hash(part), _text(schema.get("schemaUri")), _text(schema.get("mimeType")))
        attachments = tuple(
            DeclaredAttachment(str(a.get("attachmentId", "")).lower(), _hash(a))
            for a in content.get("attachments", [])
            if isinstance(a, dict)
        )
        service = _object(document.get(_SERVICE_KEY.get(metadata.major, "publicService")))
        reply = _object(document.get("replyChannel"))
        payment = document.get("paymentInformation")
        proofs = document.get("authenticationInformation")
        return cls(
            _text(service.get("identifier")),
            data,
            attachments,
            reply_channel=next(iter(reply), None),
            payment=payment if isinstance(payment, dict) else None,
            authentication=tuple(a for a in _list(proofs) if isinstance(a, dict)),
        )


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _hash(part: dict[str, Any]) -> str | None:
    return _text(_object(part.get("hash")).get("content"))
