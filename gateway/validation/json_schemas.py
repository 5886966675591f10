"""The JSON Schema registry for JSON data, beside the XSD catalogue; offline by construction.

Each set lives in ``<root>/json/<set>/`` with its schema files and a ``manifest.toml``::

    [set]
    name = "fim-hundesteuer-1.0"          # must equal the folder name
    standard = "FIM"
    version = "1.0"
    origin = "ours"                       # "ours" or the publisher; PROVENANCE.md / ABOUT.md beside it

    [[schema]]                            # one schema file, registered under its "$id"
    file = "hundesteuer.schema.json"
    accept = true                         # default: its "$id" is an accepted schemaUri;
                                          # false: only a "$ref" target (a building block)
    aliases = ["https://..."]             # optional: more accepted schemaUri values

    [[sample]]                            # optional: checked by ``xgw schemas check``
    file = "samples/valid-minimal.json"
    schema_uri = "https://..."
    valid = true

Schemas are draft 2020-12. All files of all sets form one ``referencing`` registry keyed by
``$id``; nothing else can be retrieved (its ``retrieve`` refuses every URI), and every ``$ref``
must resolve inside it at load, so validation never touches the network. Documents are checked
with a ``FormatChecker``; findings carry JSON pointers (:mod:`gateway.validation.json_findings`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from gateway.validation.errors import CatalogueError, UnsupportedSchemaError
from gateway.validation.json_findings import raise_for_errors
from gateway.validation.json_strict import JsonValue
from gateway.validation.toml_fields import array, local_file, read_toml, table, text

__all__ = ["JsonSample", "JsonSchemaEntry", "JsonSchemaRegistry", "find_json_manifests"]

MANIFEST_NAME = "manifest.toml"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_NOT_SCHEMAS = frozenset({"const", "enum", "examples", "default"})


@dataclass(frozen=True)
class JsonSchemaEntry:
    """One accepted ``schemaUri``: the set and file of its schema, and where the set comes from."""

    schema_uri: str
    set_name: str
    file: str
    origin: str


@dataclass(frozen=True)
class JsonSample:
    """A sample document of a set and whether it must pass."""

    path: Path
    schema_uri: str
    valid: bool


@dataclass(frozen=True)
class _Set:
    entries: tuple[tuple[JsonSchemaEntry, str], ...]  # (entry, $id of its schema)
    resources: tuple[tuple[str, Path, dict[str, Any]], ...]  # ($id, file, schema)
    samples: tuple[JsonSample, ...]


def find_json_manifests(root: Path) -> list[Path]:
    """All JSON set manifests under ``<root>/json``, sorted by set name."""
    return sorted((root / "json").glob(f"*/{MANIFEST_NAME}"))


def _refuse(uri: str) -> Resource[Any]:
    """The registry's retrieval: nothing outside the loaded files, ever."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs field


class JsonSchemaRegistry:
    """JSON Schemas by accepted ``schemaUri``; immutable and thread-safe after :meth:`load`."""

    def __init__(
        self,
        validators: dict[str, Draft202012Validator],
        entries: tuple[JsonSchemaEntry, ...],
        samples: tuple[JsonSample, ...],
    ) -> None:
        self._validators = validators
        self._entries = entries
        self.samples = samples

    @classmethod
    def load(cls, root: Path) -> JsonSchemaRegistry:
        """Load every set under ``<root>/json`` (none is fine: no JSON data is accepted).

        Raises :class:`CatalogueError` naming the file: unreadable or invalid manifest or schema,
        a draft other than 2020-12, an ``$id`` or ``schemaUri`` claimed twice, a ``$ref`` that
        does not resolve inside the registry.
        """
        sets = [_read_set(path) for path in find_json_manifests(root)]
        registry: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]
        files: dict[str, Path] = {}
        for item in sets:
            for schema_id, path, schema in item.resources:
                if schema_id in files:
                    raise CatalogueError(
                        f"$id {schema_id} is also declared by {files[schema_id]}", path=str(path)
                    )
                files[schema_id] = path
                registry = registry.with_resource(schema_id, DRAFT202012.create_resource(schema))
        for item in sets:
            for schema_id, path, schema in item.resources:
                _check_refs(registry, schema_id, schema, path)
        schemas = {schema_id: schema for item in sets for schema_id, _, schema in item.resources}
        validators: dict[str, Draft202012Validator] = {}
        for item in sets:
            for entry, schema_id in item.entries:
                if entry.schema_uri in validators:
                    raise CatalogueError(
                        f"schemaUri {entry.schema_uri} is accepted twice",
                        path=f"{entry.set_name}/{entry.file}",
                    )
                validators[entry.schema_uri] = Draft202012Validator(
                    schemas[schema_id], registry=registry, format_checker=FormatChecker()
                )
        entries = tuple(entry for item in sets for entry, _ in item.entries)
        return cls(validators, entries, tuple(s for item in sets for s in item.samples))

    def entries(self) -> tuple[JsonSchemaEntry, ...]:
        """Every accepted ``schemaUri``, sorted."""
        return tuple(sorted(self._entries, key=lambda e: e.schema_uri))

    def knows(self, schema_uri: str) -> bool:
        return schema_uri in self._validators

    def validate(self, schema_uri: str, document: JsonValue) -> None:
        """Check a parsed document against the schema registered for ``schema_uri``.

        Raises :class:`UnsupportedSchemaError` (no such ``schemaUri``) or
        :class:`~gateway.validation.errors.SchemaViolationError` with at most 20 findings.
        """
        validator = self._validators.get(schema_uri)
        if validator is None:
            raise UnsupportedSchemaError(
                f"no JSON Schema is registered for {schema_uri[:200]!r}", schema_uri=schema_uri
            )
        raise_for_errors(validator, document, schema_uri[:200])


def _read_set(manifest: Path) -> _Set:
    raw = read_toml(manifest)
    folder = manifest.parent
    info = table(raw.get("set"), "[set]", manifest)
    name = text(info.get("name"), "set.name", manifest)
    if name != folder.name:
        raise CatalogueError(f"set.name {name!r} differs from its folder name", path=str(manifest))
    origin = text(info.get("origin"), "set.origin", manifest)
    resources: list[tuple[str, Path, dict[str, Any]]] = []
    entries: list[tuple[JsonSchemaEntry, str]] = []
    for item in array(raw.get("schema"), "schema", manifest):
        spec = table(item, "[[schema]]", manifest)
        path = local_file(folder, text(spec.get("file"), "schema.file", manifest), manifest)
        schema = _read_schema(path)
        resources.append((schema["$id"], path, schema))
        if spec.get("accept", True):
            aliases = [text(a, "schema.aliases", manifest) for a in spec.get("aliases", [])]
            entries.extend(
                (JsonSchemaEntry(uri, name, str(path.relative_to(folder.resolve())), origin), schema["$id"])
                for uri in [schema["$id"], *aliases]
            )
    samples = tuple(
        JsonSample(
            path=local_file(folder, text(spec.get("file"), "sample.file", manifest), manifest),
            schema_uri=text(spec.get("schema_uri"), "sample.schema_uri", manifest),
            valid=bool(spec.get("valid", True)),
        )
        for spec in (table(s, "[[sample]]", manifest) for s in raw.get("sample", []))
    )
    return _Set(tuple(entries), tuple(resources), samples)


def _read_schema(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(schema, dict):
            raise ValueError("a schema must be a JSON object")
        Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, SchemaError) as exc:
        raise CatalogueError(f"invalid JSON Schema: {exc}", path=str(path)) from exc
    if schema.get("$schema", _DRAFT) != _DRAFT:
        raise CatalogueError(f"only draft 2020-12 is supported, not {schema['$schema']!r}", path=str(path))
    if not isinstance(schema.get("$id"), str) or not schema["$id"]:
        raise CatalogueError("a JSON Schema needs an absolute $id", path=str(path))
    return schema


def _check_refs(registry: Registry[Any], base: str, schema: dict[str, Any], path: Path) -> None:
    """Every ``$ref`` / ``$dynamicRef`` resolves inside the registry (no retrieval is possible)."""
    for scope, ref in _refs(schema, base):
        try:
            registry.resolver(base_uri=scope).lookup(ref)
        except Unresolvable as exc:
            raise CatalogueError(
                f"$ref {ref!r} does not resolve inside the registry", path=str(path)
            ) from exc


def _refs(node: object, base: str) -> Iterator[tuple[str, str]]:
    stack: list[tuple[object, str]] = [(node, base)]
    while stack:
        item, scope = stack.pop()
        if isinstance(item, list):
            stack.extend((child, scope) for child in item)
        elif isinstance(item, dict):
            if isinstance(item.get("$id"), str):
                scope = urljoin(scope, item["$id"])
            for key, value in item.items():
                if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                    yield scope, value
                elif key not in _NOT_SCHEMAS:
                    stack.append((value, scope))
