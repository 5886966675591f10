"""Request bodies of the http adapter, produced as streams, and their HMAC signature.

Both modes stream attachments: nothing larger than one chunk is held in memory.

``multipart`` (``multipart/form-data``), parts in this order:

* ``envelope``: ``application/json``, the :func:`envelope` (ids, service, schema, metadata, tags,
  and ``attachments``: one entry per attachment part, in part order, with its ``filename``);
* ``data``: the XÖV data, ``filename="data.xml"`` (or ``data.json``), its media type;
* ``attachments``: one part per attachment, ``filename`` a sanitised unique name, its media type.

``json`` (``application/json``): the envelope plus ``data`` (UTF-8 text, or base64 when
``dataEncoding`` is ``base64``) and, per attachment, ``content`` (base64). Fine for small
submissions; prefer ``multipart`` for large attachments (base64 grows them by a third, and the
receiver must parse one big JSON document).

Signature (when a secret is configured): exactly the FIT-Connect callback scheme over the raw
request body — ``callback-authentication = hex(HMAC-SHA512(secret, "<callback-timestamp>.<body>"))``
— so a vendor verifies it with the same code as a FIT-Connect callback. To sign a streamed body the
body is produced twice: once to compute length and HMAC, once to send it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.adapters import Submission, safe_filename, unique_filename

BodyFactory = Callable[[], AsyncIterator[bytes]]
DATA_NAMES = {"application/xml": "data.xml", "text/xml": "data.xml", "application/json": "data.json"}


def attachment_names(submission: Submission) -> list[str]:
    """The sanitised, unique file name of each attachment, in order."""
    taken: set[str] = set()
    names = []
    for index, attachment in enumerate(submission.attachments, start=1):
        name = unique_filename(safe_filename(attachment.filename, fallback=f"attachment-{index}"), taken)
        taken.add(name.casefold())
        names.append(name)
    return names


def envelope(submission: Submission, names: list[str]) -> dict[str, Any]:
    """Everything about the submission except the data and attachment contents."""
    tags = submission.authentication_tags
    return {
        "submissionId": submission.submission_id,
        "caseId": submission.case_id,
        "destinationId": submission.destination_id,
        "service": {"identifier": submission.service.identifier, "name": submission.service.name},
        "schemaUri": submission.schema_uri,
        "mimeType": submission.mime_type,
        "submittedAt": submission.submitted_at.isoformat() if submission.submitted_at else None,
        "metadata": dict(submission.metadata),
        "authenticationTags": {
            "metadata": tags.metadata,
            "data": tags.data,
            "attachments": dict(tags.attachments),
        },
        "attachments": [
            {
                "attachmentId": a.attachment_id,
                "filename": name,
                "mimeType": a.mime_type,
                "purpose": a.purpose,
                "size": a.size,
                "sha512": a.sha512,
            }
            for a, name in zip(submission.attachments, names, strict=True)
        ],
    }


def json_body(submission: Submission) -> BodyFactory:
    """The ``json`` mode body: one JSON object, attachment contents streamed as base64."""
    names = attachment_names(submission)
    head = envelope(submission, names)
    attachments = head.pop("attachments")
    try:
        data, encoding = submission.data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        data, encoding = base64.b64encode(submission.data).decode("ascii"), "base64"
    head.update(dataEncoding=encoding, data=data)
    prefix = _dumps(head)[:-1] + b',"attachments":['

    async def body() -> AsyncIterator[bytes]:
        yield prefix
        for index, (attachment, entry) in enumerate(zip(submission.attachments, attachments, strict=True)):
            yield (b"," if index else b"") + _dumps(entry)[:-1] + b',"content":"'
            async for chunk in _base64(attachment.open()):
                yield chunk
            yield b'"}'
        yield b"]}"

    return body


def multipart_body(submission: Submission, boundary: str) -> BodyFactory:
    """The ``multipart`` mode body with ``boundary``; attachment parts streamed as they are."""
    names = attachment_names(submission)
    head = _dumps(envelope(submission, names))
    data_name = DATA_NAMES.get(submission.mime_type, "data.bin")
    delimiter = f"--{boundary}\r\n".encode()

    def part_header(field: str, content_type: str, filename: str | None = None) -> bytes:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
        return (
            delimiter + f"Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        )

    async def body() -> AsyncIterator[bytes]:
        yield part_header("envelope", "application/json") + head + b"\r\n"
        yield part_header("data", _header_safe(submission.mime_type), data_name) + submission.data + b"\r\n"
        for attachment, name in zip(submission.attachments, names, strict=True):
            yield part_header("attachments", _header_safe(attachment.mime_type), name)
            async for chunk in attachment.open():
                yield chunk
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    return body


async def measure(body: BodyFactory, secret: bytes | None, timestamp: str) -> tuple[int, str | None]:
    """Length of the body and, with a ``secret``, hex HMAC-SHA512 over ``"<timestamp>.<body>"``."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b".", hashlib.sha512) if secret is not None else None
    length = 0
    async for chunk in body():
        length += len(chunk)
        if mac is not None:
            mac.update(chunk)
    return length, mac.hexdigest() if mac is not None else None


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature of a body held in memory (same scheme as :func:`measure`)."""
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha512).hexdigest()


async def _base64(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    carry = b""
    async for chunk in chunks:
        buffer = carry + chunk
        cut = len(buffer) - len(buffer) % 3
        if cut:
            yield base64.b64encode(buffer[:cut])
        carry = buffer[cut:]
    if carry:
        yield base64.b64encode(carry)


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _header_safe(value: str) -> str:
    """A media type fit for a part header (the sender chose it): printable ASCII or a fallback."""
    return value if value.isascii() and value.isprintable() and value else "application/octet-stream"
