"""Typed outcomes of payload validation, each mapped to a FIT-Connect reject problem.

    PermanentError (gateway.errors)
    └── PayloadRejected                 base; carries ``findings`` and a stable ``reason``
        ├── SyntaxViolationError        slug ``syntax-violation``
        │   ├── XmlNotWellFormedError   not well-formed XML
        │   ├── DoctypeForbiddenError   any DOCTYPE / DTD / entity declaration
        │   ├── EncodingViolationError  anything but UTF-8 (BOM, declaration, bytes, NUL)
        │   ├── NestingTooDeepError     XML or JSON nesting over the bound
        │   ├── DocumentTooLargeError   byte, element or text-node bound exceeded
        │   └── JsonSyntaxError         invalid or ambiguous JSON (duplicate keys, NaN, ...)
        ├── SchemaViolationError        slug ``schema-violation``; XSD or JSON Schema findings
        │   └── UnexpectedRootError     root element is not a message type of the schema
        ├── UnsupportedSchemaError      slug ``unsupported-schema``
        └── MissingSchemaError          slug ``missing-schema``

    ConfigError (gateway.errors)
    └── CatalogueError                  a schema set cannot be loaded; ``path`` names the file
        └── ImportRefusedError          an import/include that is neither local nor mapped

``slug`` is the last segment of the rejection problem type (FITKO's
``https://schema.fitko.de/fit-connect/events/problems/<slug>`` for every slug raised here, see
``gateway.content.problems``); ``reason`` is a finer,
stable code for logs and metrics. ``detail`` and every ``Finding`` are safe to send back to
the sender: they never contain more than a short excerpt of the payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.errors import ConfigError, PermanentError

__all__ = [
    "CatalogueError",
    "DoctypeForbiddenError",
    "DocumentTooLargeError",
    "EncodingViolationError",
    "Finding",
    "ImportRefusedError",
    "JsonSyntaxError",
    "MissingSchemaError",
    "NestingTooDeepError",
    "PayloadRejected",
    "SchemaViolationError",
    "SyntaxViolationError",
    "UnexpectedRootError",
    "UnsupportedSchemaError",
    "XmlNotWellFormedError",
]


@dataclass(frozen=True)
class Finding:
    """One problem in a payload.

    ``line`` is the 1-based line in the XML document (``None`` for JSON), ``path`` an
    XPath-like location (``/Invoice/cbc:DueDate``) or a JSON path (``$.contentStructure``),
    ``message`` a short human-readable explanation.
    """

    line: int | None
    path: str
    message: str


class PayloadRejected(PermanentError):
    """The decrypted payload will never be accepted; ``slug`` names the reject problem."""

    reason: str = "rejected"

    def __init__(self, detail: str, *, findings: Sequence[Finding] = (), reason: str | None = None) -> None:
        super().__init__(detail)
        self.findings: tuple[Finding, ...] = tuple(findings)
        if reason is not None:
            self.reason = reason


class SyntaxViolationError(PayloadRejected):
    """The payload cannot be parsed safely (FIT-Connect ``syntax-violation``)."""

    slug = "syntax-violation"
    reason = "syntax-violation"


class XmlNotWellFormedError(SyntaxViolationError):
    reason = "xml-not-well-formed"


class DoctypeForbiddenError(SyntaxViolationError):
    reason = "xml-doctype-forbidden"


class EncodingViolationError(SyntaxViolationError):
    reason = "encoding-not-utf8"


class NestingTooDeepError(SyntaxViolationError):
    reason = "nesting-too-deep"


class DocumentTooLargeError(SyntaxViolationError):
    reason = "document-too-large"


class JsonSyntaxError(SyntaxViolationError):
    reason = "json-invalid"


class SchemaViolationError(PayloadRejected):
    """The payload does not match its schema; ``findings`` holds at most 20 entries.

    ``total`` is the number of problems the validator reported, which may exceed
    ``len(findings)``.
    """

    slug = "schema-violation"
    reason = "schema-violation"

    def __init__(
        self,
        detail: str,
        *,
        findings: Sequence[Finding] = (),
        total: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(detail, findings=findings, reason=reason)
        self.total = len(self.findings) if total is None else total


class UnexpectedRootError(SchemaViolationError):
    """The root element is in another namespace or is not a message type of the schema."""

    reason = "unexpected-root"


class UnsupportedSchemaError(PayloadRejected):
    """The schema (``schemaUri`` or metadata version) is not in the catalogue or not allowed."""

    slug = "unsupported-schema"
    reason = "unsupported-schema"

    def __init__(self, detail: str, *, schema_uri: str = "") -> None:
        super().__init__(detail)
        self.schema_uri = schema_uri


class MissingSchemaError(PayloadRejected):
    """The payload names no schema at all."""

    slug = "missing-schema"
    reason = "missing-schema"


class CatalogueError(ConfigError):
    """A schema set or its manifest cannot be loaded; ``path`` names the offending file."""

    slug = "schema-catalogue-invalid"


class ImportRefusedError(CatalogueError):
    """An ``xs:import``/``xs:include`` points outside the set and is not in its URL map."""

    slug = "schema-import-refused"

    def __init__(self, detail: str, *, path: str = "", url: str = "") -> None:
        super().__init__(detail, path=path)
        self.url = url
