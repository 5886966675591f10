"""FIT-Connect metadata: strict parsing plus the JSON Schema of the declared version.

``<root>/fit-connect/metadata/manifest.toml`` lists every accepted version and the schema file it
is checked with; ``origin`` says whether that file is FITKO's (``fitko``: its ``$id`` must be the
version's schema.fitko.de URL) or written for this gateway (``ours``: its ``$id`` must not be
one). Several versions may share one schema (a family). Schemas are checked and compiled once
at load (``Draft202012Validator`` with a ``FormatChecker``; ``$ref`` only inside the file).

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
from pathlib import Path
from typing import Literal

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from gateway.validation.errors import CatalogueError, Finding, SchemaViolationError, UnsupportedSchemaError
from gateway.validation.json_findings import raise_for_errors
from gateway.validation.json_strict import JsonValue, parse_json_strict
from gateway.validation.toml_fields import array, local_file, read_toml, table, text

__all__ = ["DEFAULT_METADATA_VERSION", "MetadataSchemas", "MetadataVersion", "ValidatedMetadata", "schema_id"]

DEFAULT_METADATA_VERSION = "1.0.0"
Origin = Literal["fitko", "ours"]
_ORIGINS: tuple[Origin, ...] = ("fitko", "ours")
_ID = re.compile(
    r"^https://schema\.fitko\.de/fit-connect/metadata/(?P<version>\d+\.\d+\.\d+)/metadata\.schema\.json$"
)


def schema_id(version: str) -> str:
    """The ``$schema`` / ``$id`` URL of a metadata schema version."""
    return f"https://schema.fitko.de/fit-connect/metadata/{version}/metadata.schema.json"


@dataclass(frozen=True)
class MetadataVersion:
    """One accepted version: the schema file it is checked with and where that file comes from."""

    version: str
    schema: Path
    origin: Origin


@dataclass(frozen=True, eq=False)
class ValidatedMetadata:
    """Metadata that passed: its schema version and the parsed document."""

    version: str
    document: dict[str, JsonValue]

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])


class MetadataSchemas:
    """The metadata JSON Schemas by version; immutable and thread-safe after :meth:`load`."""

    def __init__(self, versions: Mapping[str, tuple[MetadataVersion, Draft202012Validator]]) -> None:
        self._versions = dict(versions)

    @classmethod
    def load(cls, root: Path) -> MetadataSchemas:
        """Load the versions of ``<root>/fit-connect/metadata/manifest.toml``.

        Raises :class:`CatalogueError` if the manifest or a schema is unreadable or invalid, or a
        schema's ``$id`` does not fit its origin.
        """
        folder = root / "fit-connect" / "metadata"
        manifest = folder / "manifest.toml"
        if not manifest.is_file():
            raise CatalogueError("no metadata manifest found", path=str(manifest))
        compiled: dict[Path, Draft202012Validator] = {}
        versions: dict[str, tuple[MetadataVersion, Draft202012Validator]] = {}
        for raw in array(read_toml(manifest).get("version"), "version", manifest):
            entry = _entry(folder, table(raw, "[[version]]", manifest), manifest)
            if entry.version in versions:
                raise CatalogueError(f"version {entry.version} is listed twice", path=str(manifest))
            if entry.schema not in compiled:
                compiled[entry.schema] = _compile(entry.schema)
            _check_id(entry, compiled[entry.schema])
            versions[entry.version] = (entry, compiled[entry.schema])
        return cls(versions)

    @property
    def versions(self) -> tuple[str, ...]:
        """The accepted versions, in version order."""
        return tuple(sorted(self._versions, key=_version_key))

    def entries(self) -> tuple[MetadataVersion, ...]:
        """Every accepted version with its schema file and origin, in version order."""
        return tuple(self._versions[v][0] for v in self.versions)

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
                findings=[Finding(line=None, path="", message="not an object")],
            )
        version = _declared_version(document.get("$schema", schema_id(DEFAULT_METADATA_VERSION)))
        if version not in allowed_versions:
            raise UnsupportedSchemaError(
                f"metadata version {version} is not accepted by this destination",
                schema_uri=schema_id(version),
            )
        loaded = self._versions.get(version)
        if loaded is None:
            raise UnsupportedSchemaError(
                f"metadata version {version} is not supported by this gateway",
                schema_uri=schema_id(version),
            )
        raise_for_errors(loaded[1], document, f"metadata version {version}")
        return ValidatedMetadata(version=version, document=document)


def _entry(folder: Path, item: dict[str, object], manifest: Path) -> MetadataVersion:
    version = text(item.get("version"), "version.version", manifest)
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise CatalogueError(f"version {version!r} is not <major>.<minor>.<patch>", path=str(manifest))
    origin = text(item.get("origin"), "version.origin", manifest)
    if origin not in _ORIGINS:
        raise CatalogueError(f"version {version}: origin must be one of {_ORIGINS}", path=str(manifest))
    schema = local_file(folder, text(item.get("schema"), "version.schema", manifest), manifest)
    return MetadataVersion(version=version, schema=schema, origin="fitko" if origin == "fitko" else "ours")


def _compile(path: Path) -> Draft202012Validator:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, SchemaError) as exc:
        raise CatalogueError(f"invalid metadata schema: {exc}", path=str(path)) from exc
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _check_id(entry: MetadataVersion, validator: Draft202012Validator) -> None:
    """FITKO's file carries its version's URL as ``$id``; ours never claims a FITKO URL."""
    schema_id_ = validator.schema.get("$id") if isinstance(validator.schema, dict) else None
    if entry.origin == "fitko" and schema_id_ != schema_id(entry.version):
        raise CatalogueError(f"$id does not match version {entry.version}", path=str(entry.schema))
    if entry.origin == "ours" and (
        not isinstance(schema_id_, str) or schema_id_.startswith("https://schema.fitko.de/")
    ):
        raise CatalogueError(
            "a schema of our own must have an $id outside schema.fitko.de", path=str(entry.schema)
        )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _declared_version(value: JsonValue) -> str:
    match = _ID.match(value) if isinstance(value, str) else None
    if match is None:
        shown = value[:120] if isinstance(value, str) else type(value).__name__
        raise UnsupportedSchemaError(f"unknown metadata $schema {shown!r}", schema_uri=str(shown))
    return match.group("version")
