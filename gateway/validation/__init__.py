"""Payload validation: the XSD catalogue, the JSON Schema registry, hardened XML and JSON
parsing, metadata schemas.

The only home of lxml and jsonschema; every lxml parser comes from
:mod:`gateway.validation.parsers`. Everything a caller needs is exported here; each
failure is a :class:`PayloadRejected` subclass whose ``slug`` is the FIT-Connect reject
problem (``syntax-violation``, ``schema-violation``, ``unsupported-schema``,
``missing-schema``) and whose ``findings`` say where.
Loading problems are :class:`CatalogueError` (a ``ConfigError``).
"""

from __future__ import annotations

from pathlib import Path

from gateway.validation.catalogue import CatalogueEntry, SchemaCatalogue, ValidatedXml
from gateway.validation.commands import check_schemas, list_schemas
from gateway.validation.errors import (
    CatalogueError,
    DoctypeForbiddenError,
    DocumentTooLargeError,
    EncodingViolationError,
    Finding,
    ImportRefusedError,
    JsonSyntaxError,
    MissingSchemaError,
    NestingTooDeepError,
    PayloadRejected,
    SchemaViolationError,
    SyntaxViolationError,
    UnexpectedRootError,
    UnsupportedSchemaError,
    XmlNotWellFormedError,
)
from gateway.validation.json_schemas import JsonSchemaEntry, JsonSchemaRegistry
from gateway.validation.json_strict import JsonValue, parse_json_strict
from gateway.validation.metadata import MetadataSchemas, MetadataVersion, ValidatedMetadata
from gateway.validation.safe_xml import DEFAULT_MAX_ELEMENTS, MAX_DEPTH

__all__ = [
    "DEFAULT_MAX_ELEMENTS",
    "MAX_DEPTH",
    "CatalogueEntry",
    "CatalogueError",
    "DoctypeForbiddenError",
    "DocumentTooLargeError",
    "EncodingViolationError",
    "Finding",
    "ImportRefusedError",
    "JsonSchemaEntry",
    "JsonSchemaRegistry",
    "JsonSyntaxError",
    "JsonValue",
    "MetadataSchemas",
    "MetadataVersion",
    "MissingSchemaError",
    "NestingTooDeepError",
    "PayloadRejected",
    "SchemaCatalogue",
    "SchemaViolationError",
    "SyntaxViolationError",
    "UnexpectedRootError",
    "UnsupportedSchemaError",
    "ValidatedMetadata",
    "ValidatedXml",
    "XmlNotWellFormedError",
    "check_schemas",
    "default_schema_root",
    "list_schemas",
    "parse_json_strict",
]


def default_schema_root() -> Path:
    """The ``schemas/`` folder of a source checkout (``<repo>/schemas``)."""
    return Path(__file__).resolve().parents[2] / "schemas"
