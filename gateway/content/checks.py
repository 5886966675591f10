"""The content checks of a submission, shared by the validation stage and the dry run.

:func:`check_submission` runs, in this order, and stops after the first step with problems:

1. decrypt metadata, data and attachments (``encryption-issue`` per failing part);
2. metadata: strict JSON, the JSON Schema of its ``$schema`` version, which the destination
   must list (``syntax-violation`` / ``schema-violation`` / ``unsupported-schema``);
3. the service named in the metadata is the submission's (``service-mismatch``);
4. attachment ids in the metadata = the announced ids (``missing-attachment`` /
   ``attachments-mismatch``);
5. data sent iff the metadata declares it (``missing-data`` / ``missing-schema``);
6. SHA-512 of every plaintext = the metadata hash (``hash-mismatch``);
7. data: ``schemaUri`` + ``mimeType`` offered by the destination's service
   (``unsupported-schema``), then valid: XML against the catalogue XSD, JSON against a
   registered JSON Schema (``syntax-violation`` / ``schema-violation`` / ``unsupported-schema``);
8. reply channel offered, payment and authentication information plausible
   (:mod:`gateway.content.plausible`).

The event-log comparison of authentication tags happens before, in the stage only.
Everything here is synchronous and CPU-bound: callers run it in a worker thread.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.config.settings import Limits
from gateway.content.declared import Declared, DeclaredAttachment, DeclaredData
from gateway.content.parts import OpenedParts, PlaintextLimits, PlaintextMeter, SealedParts, open_parts
from gateway.content.plausible import check_declarations
from gateway.content.problems import Problem, attachment, from_rejection
from gateway.crypto.jwe import DecryptionKeys
from gateway.memory import release_freed_memory
from gateway.store.models import Destination
from gateway.validation import (
    JsonValue,
    MetadataSchemas,
    PayloadRejected,
    SchemaCatalogue,
    UnsupportedSchemaError,
    parse_json_strict,
)

__all__ = [
    "JsonSchemas",
    "NoJsonSchemas",
    "OfferedSchema",
    "Schemas",
    "Subject",
    "check_content",
    "check_submission",
]

XML, JSON = "application/xml", "application/json"


class JsonSchemas(Protocol):
    """JSON Schemas for JSON data by ``schemaUri``; ``validate`` raises ``PayloadRejected``."""

    def validate(self, schema_uri: str, document: JsonValue) -> None: ...


class NoJsonSchemas:
    """Without a JSON Schema registry every JSON ``schemaUri`` is unsupported."""

    def validate(self, schema_uri: str, document: JsonValue) -> None:
        raise UnsupportedSchemaError(
            f"no JSON Schema is registered for {schema_uri[:200]!r}", schema_uri=schema_uri
        )


@dataclass(frozen=True)
class Schemas:
    """What data and metadata are validated against (loaded once, shared, thread-safe)."""

    catalogue: SchemaCatalogue
    metadata: MetadataSchemas
    json: JsonSchemas = field(default_factory=NoJsonSchemas)


@dataclass(frozen=True)
class OfferedSchema:
    """A data schema the destination's service accepts."""

    schema_uri: str
    mime_type: str


@dataclass(frozen=True)
class Subject:
    """What the clear-text side says about the submission: where, which service, which parts."""

    destination_id: str
    service_identifier: str
    metadata_versions: tuple[str, ...]
    offered: tuple[OfferedSchema, ...] | None  # None: the destination does not offer the service
    attachment_ids: tuple[str, ...]
    reply_channels: frozenset[str] = frozenset()  #: offered for the service (else the destination's)

    @classmethod
    def of(cls, destination: Destination, service_identifier: str, attachment_ids: Sequence[str]) -> Subject:
        """From the destination row (``services[i].submission_schemas``, snake_case keys)."""
        offered: tuple[OfferedSchema, ...] | None = None
        channels = dict(destination.reply_channels or {})
        for service in destination.services:
            if isinstance(service, dict) and service.get("identifier") == service_identifier:
                offered = tuple(
                    OfferedSchema(str(s["schema_uri"]), str(s["mime_type"]))
                    for s in service.get("submission_schemas", [])
                )
                channels = dict(service.get("reply_channels") or {}) or channels
                break
        return cls(
            destination_id=destination.id,
            service_identifier=service_identifier,
            metadata_versions=tuple(str(v) for v in destination.metadata_versions),
            offered=offered,
            attachment_ids=tuple(attachment_ids),
            reply_channels=frozenset(channels),
        )


def check_submission(
    parts: SealedParts,
    subject: Subject,
    keys: DecryptionKeys,
    schemas: Schemas,
    limits: Limits,
    *,
    dry_run: bool = False,
    content_keys: dict[str, bytes] | None = None,
) -> list[Problem]:
    """Every problem of the first failing step (empty: the submission is valid). A valid
    submission's content key of each part goes into ``content_keys`` when one is passed."""
    meter = PlaintextMeter(PlaintextLimits.of(limits, dry_run=dry_run), keep_keys=content_keys is not None)
    try:
        opened, problems = open_parts(parts, keys, meter)
        if opened is None:
            return problems
        problems = check_content(opened, subject, schemas, limits)
        if not problems and content_keys is not None:
            content_keys.update(meter.content_keys)
        return problems
    finally:
        opened = None  # the plaintexts are freed before the heap is trimmed
        meter.content_keys.clear()
        release_freed_memory(meter.total)


def check_content(opened: OpenedParts, subject: Subject, schemas: Schemas, limits: Limits) -> list[Problem]:
    """Steps 2-8 on decrypted parts."""
    try:
        metadata = schemas.metadata.validate(opened.metadata, allowed_versions=subject.metadata_versions)
    except PayloadRejected as exc:
        return [from_rejection(exc, "metadata")]
    declared = Declared.of(metadata)
    problems = (
        _service(declared, subject)
        or _attachments(declared.attachments, subject)
        or _presence(declared.data, opened)
        or _hashes(declared, opened)
    )
    if problems:
        return problems
    if declared.data is not None and opened.data is not None:
        problems = _data(declared.data, opened.data, subject, schemas, limits)
    return problems or check_declarations(declared, subject.reply_channels)


def _service(declared: Declared, subject: Subject) -> list[Problem]:
    identifier = declared.service_identifier
    if identifier is not None and identifier != subject.service_identifier:
        detail = f"the metadata names {identifier[:200]!r}, the submission {subject.service_identifier!r}"
        return [Problem("service-mismatch", "metadata", detail)]
    return []


def _attachments(declared: tuple[DeclaredAttachment, ...], subject: Subject) -> list[Problem]:
    ids = [a.attachment_id for a in declared]
    announced = set(subject.attachment_ids)
    problems = [
        Problem(
            "attachments-mismatch", "metadata", f"attachment {aid} is listed {count} times in the metadata"
        )
        for aid, count in Counter(ids).items()
        if count > 1
    ]
    problems += [
        Problem(
            "missing-attachment",
            attachment(aid),
            f"attachment {aid} is in the metadata but was not announced",
        )
        for aid in dict.fromkeys(ids)
        if aid not in announced
    ]
    listed = set(ids)
    problems += [
        Problem(
            "attachments-mismatch", attachment(aid), f"attachment {aid} was sent but is not in the metadata"
        )
        for aid in subject.attachment_ids
        if aid not in listed
    ]
    return problems


def _presence(data: DeclaredData | None, opened: OpenedParts) -> list[Problem]:
    if data is not None and opened.data is None:
        return [Problem("missing-data", "data", "the metadata declares data, but no encrypted data was sent")]
    if data is None and opened.data is not None:
        return [Problem("missing-schema", "data", "data was sent, but the metadata declares no data schema")]
    return []


def _hashes(declared: Declared, opened: OpenedParts) -> list[Problem]:
    problems: list[Problem] = []
    data, plaintext = declared.data, opened.data
    if data is not None and plaintext is not None and data.sha512 != hashlib.sha512(plaintext).hexdigest():
        problems.append(Problem("hash-mismatch", "data", "the SHA-512 of the data differs from the metadata"))
    for part in declared.attachments:
        aid = part.attachment_id
        if part.sha512 != opened.attachment_hashes.get(aid):
            detail = f"the SHA-512 of attachment {aid} differs from the metadata"
            problems.append(Problem("hash-mismatch", attachment(aid), detail))
    return problems


def _offered(uri: str, offered: str) -> bool:
    """Exactly the offered URI, or it refined by ``#<message type>``."""
    return uri == offered or uri.startswith(offered + "#")


def _data(
    data: DeclaredData, plaintext: bytes, subject: Subject, schemas: Schemas, limits: Limits
) -> list[Problem]:
    uri, mime = data.schema_uri, data.mime_type
    if uri is None or not uri.strip():
        return [Problem("missing-schema", "data", "the metadata names no schemaUri for the data")]

    def unsupported(detail: str) -> list[Problem]:
        return [Problem("unsupported-schema", "data", detail)]

    if subject.offered is None:
        return unsupported(f"the destination does not offer the service {subject.service_identifier!r}")
    candidates = [o for o in subject.offered if _offered(uri, o.schema_uri)]
    if not candidates:
        return unsupported(f"schemaUri {uri[:200]!r} is not offered for this service")
    if not any(o.mime_type == mime for o in candidates):
        offered = ", ".join(sorted({o.mime_type for o in candidates}))
        return unsupported(f"{uri[:200]} is offered as {offered}, not as {str(mime)[:100]}")
    try:
        if mime == XML:
            schemas.catalogue.validate(uri, plaintext, max_bytes=limits.max_inflated_bytes)
        elif mime == JSON:
            schemas.json.validate(uri, parse_json_strict(plaintext))
        else:
            return unsupported(f"media type {str(mime)[:100]} is not supported")
    except PayloadRejected as exc:
        return [from_rejection(exc, "data")]
    return []
