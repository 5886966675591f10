"""FIT-Connect metadata: strict parsing plus the JSON Schema of the declared version.

Schemas live in ``<root>/fit-connect/metadata/<version>/metadata.schema.json`` and are
checked and compiled once at load (``Draft202012Validator`` with a ``FormatChecker``).
A document selects its version through ``$schema``
(``https://schema.fitko.de/fit-connect/metadata/<version>/metadata.schema.json``); without
``$schema`` it is 1.0.0. The version must be one the destination allows.

Outcome contract (same as the XSD catalogue): :meth:`MetadataSchemas.validate` returns a
:class:`ValidatedMetadata` or raises a
:class:`~gateway.validation.errors.PayloadRejected` subclass carrying findings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from gateway.validation.errors import (
    CatalogueError,
    Finding,
    SchemaViolationError,
    UnsupportedSchemaError,
)
from gateway.validation.json_strict import JsonValue, parse_json_strict
from gateway.validation.xsd_findings import MAX_FINDINGS

__all__ = ["DEFAULT_METADATA_VERSION", "MetadataSchemas", "ValidatedMetadata", "schema_id"]

DEFAULT_METADATA_VERSION = "1.0.0"
_SCHEMA_FILE = "metadata.schema.json"
_ID = re.compile(
    r"^https://schema\.fitko\.de/fit-connect/metadata/(?P<version>\d+\.\d+\.\d+)/metadata\.schema\.json$"
)
_MESSAGE_LIMIT = 300
_MAX_ERRORS = 1000  # stop collecting after this many; ``total`` then says "at least"


def schema_id(version: str) -> str:
    """The ``$schema`` / ``$id`` URL of a metadata schema version."""
    return f"https://schema.fitko.de/fit-connect/metadata/{version}/metadata.schema.json"


@dataclass(frozen=True, eq=False)
class ValidatedMetadata:
    """Metadata that passed: its schema version and the parsed document."""

    version: str
    document: dict[str, JsonValue]


class MetadataSchemas:
    """The metadata JSON Schemas by version; immutable and thread-safe after :meth:`load`."""

    def __init__(self, validators: Mapping[str, Draft202012Validator]) -> None:
        self._validators = dict(validators)

    @classmethod
    def load(cls, root: Path) -> MetadataSchemas:
        """Load ``<root>/fit-connect/metadata/*/metadata.schema.json``.

        Raises :class:`CatalogueError` if a schema is unreadable, invalid, or its ``$id``
        does not name its folder's version.
        """
        validators: dict[str, Draft202012Validator] = {}
        for path in sorted((root / "fit-connect" / "metadata").glob(f"*/{_SCHEMA_FILE}")):
            version = path.parent.name
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
                Draft202012Validator.check_schema(schema)
            except (OSError, ValueError, SchemaError) as exc:
                raise CatalogueError(f"invalid metadata schema: {exc}", path=str(path)) from exc
            if schema.get("$id") != schema_id(version):
                raise CatalogueError(f"$id does not match version {version}", path=str(path))
            validators[version] = Draft202012Validator(schema, format_checker=FormatChecker())
        if not validators:
            raise CatalogueError("no metadata schemas found", path=str(root / "fit-connect" / "metadata"))
        return cls(validators)

    @property
    def versions(self) -> tuple[str, ...]:
        """The loaded schema versions, sorted."""
        return tuple(sorted(self._validators))

    def validate(self, data: bytes, *, allowed_versions: Collection[str]) -> ValidatedMetadata:
        """Parse ``data`` strictly and validate it against its declared metadata version.

        Raises a ``syntax-violation`` error from :func:`parse_json_strict`,
        :class:`UnsupportedSchemaError` (``$schema`` unknown, not loaded or not in
        ``allowed_versions``) or :class:`SchemaViolationError` with at most 20 findings.
        """
        document = parse_json_strict(data)
        if not isinstance(document, dict):
            raise SchemaViolationError(
                "metadata must be a JSON object",
                findings=[Finding(line=None, path="$", message="not an object")],
            )
        version = _declared_version(document.get("$schema", schema_id(DEFAULT_METADATA_VERSION)))
        if version not in allowed_versions:
            raise UnsupportedSchemaError(
                f"metadata version {version} is not accepted by this destination",
                schema_uri=schema_id(version),
            )
        validator = self._validators.get(version)
        if validator is None:
            raise UnsupportedSchemaError(
                f"metadata version {version} is not supported by this gateway",
                schema_uri=schema_id(version),
            )
        errors = sorted(islice(validator.iter_errors(document), _MAX_ERRORS), key=_error_path)
        if errors:
            findings = [_finding(error) for error in errors[:MAX_FINDINGS]]
            raise SchemaViolationError(
                f"{len(errors)} metadata schema violation(s) against version {version}",
                findings=findings,
                total=len(errors),
            )
        return ValidatedMetadata(version=version, document=document)


def _declared_version(value: JsonValue) -> str:
    match = _ID.match(value) if isinstance(value, str) else None
    if match is None:
        shown = value[:120] if isinstance(value, str) else type(value).__name__
        raise UnsupportedSchemaError(f"unknown metadata $schema {shown!r}", schema_uri=str(shown))
    return match.group("version")


def _error_path(error: Any) -> str:
    return str(error.json_path)


def _finding(error: Any) -> Finding:
    message = str(error.message)
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return Finding(line=None, path=str(error.json_path), message=message)
