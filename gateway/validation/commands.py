"""Operator commands behind ``xgw schemas list`` and ``xgw schemas check``.

Both take the schema data root (the folder holding ``xoev/`` and ``fit-connect/``) and
return text; the CLI prints it and chooses the exit code.
"""

from __future__ import annotations

from pathlib import Path

from gateway.validation.catalogue import SchemaCatalogue, load_set
from gateway.validation.errors import CatalogueError, PayloadRejected
from gateway.validation.json_schemas import JsonSchemaRegistry
from gateway.validation.json_strict import parse_json_strict
from gateway.validation.manifest import find_manifests, read_manifest
from gateway.validation.metadata import MetadataSchemas
from gateway.validation.xsd_loader import global_elements

__all__ = ["check_schemas", "list_schemas"]

_HEADERS = ("schemaUri", "set", "root XSD", "namespace", "message types")
_JSON_HEADERS = ("JSON schemaUri", "set", "schema", "origin")
_METADATA_HEADERS = ("metadata version", "schema", "origin")


def list_schemas(root: Path) -> str:
    """Tables of every accepted XML ``schemaUri`` (set, root XSD(s), namespace(s), type count),
    JSON ``schemaUri`` (set, schema file, origin) and metadata version (schema file, origin).

    Raises :class:`CatalogueError` if a catalogue does not load (run ``check`` for all
    problems at once).
    """
    catalogue = SchemaCatalogue.load(root)
    rows = [
        (
            entry.schema_uri,
            entry.set_name,
            _abbreviated(entry.root_xsd),
            _joined(entry.namespaces),
            str(len(entry.message_types)),
        )
        for entry in catalogue.entries()
    ]
    json_rows = [
        (e.schema_uri, e.set_name, e.file, e.origin) for e in JsonSchemaRegistry.load(root).entries()
    ]
    metadata = MetadataSchemas.load(root)
    folder = root / "fit-connect" / "metadata"
    metadata_rows = [
        (m.version, str(m.schema.relative_to(folder.resolve())), m.origin) for m in metadata.entries()
    ]
    return "\n\n".join(
        [
            _table([_HEADERS, *rows]),
            _table([_JSON_HEADERS, *json_rows]),
            _table([_METADATA_HEADERS, *metadata_rows]),
        ]
    )


def check_schemas(root: Path) -> tuple[bool, str]:
    """Compile every set and metadata schema; report each failure with its manifest path.

    Also checks that every declared message type is a global element of the set's XSDs
    and that no two sets claim the same ``schemaUri`` + root element. Returns
    ``(all_ok, report)``.
    """
    lines: list[str] = []
    loaded = []
    manifests = find_manifests(root)
    if not manifests:
        lines.append(f"FAIL {root / 'xoev'}: no schema sets (*/manifest.toml) found")
    for path in manifests:
        try:
            manifest = read_manifest(path)
            compiled = load_set(manifest)
        except CatalogueError as exc:
            lines.append(_failure(path, exc))
            continue
        missing: list[str] = []
        for spec, schema in compiled:
            declared = global_elements(schema.files)
            missing.extend(
                f"{{{namespace}}}{local}"
                for namespace, locals_ in spec.message_types.items()
                for local in locals_
                if (namespace, local) not in declared
            )
        if missing:
            lines.append(f"FAIL {path}: message types without a global element: {', '.join(sorted(missing))}")
            continue
        loaded.append((manifest, compiled))
        types = sum(len(names) for spec in manifest.schemas for names in spec.message_types.values())
        lines.append(
            f"ok   {path}: {len(manifest.schemas)} schema(s), {types} message type(s), "
            f"{len(manifest.uris)} schemaUri(s)"
        )
    try:
        SchemaCatalogue.from_sets(loaded)
    except CatalogueError as exc:
        lines.append(f"FAIL {exc.detail}")
    lines.extend(_check_json(root))
    try:
        versions = MetadataSchemas.load(root).versions
        lines.append(f"ok   {root / 'fit-connect' / 'metadata'}: versions {', '.join(versions)}")
    except CatalogueError as exc:
        lines.append(f"FAIL {exc.detail}")
    ok = not any(line.startswith("FAIL") for line in lines)
    return ok, "\n".join(lines)


def _check_json(root: Path) -> list[str]:
    """Load the JSON registry, then each sample must pass or fail as its manifest says."""
    try:
        registry = JsonSchemaRegistry.load(root)
    except CatalogueError as exc:
        return [f"FAIL {exc.detail}"]
    counts = f"{len(registry.entries())} JSON schemaUri(s), {len(registry.samples)} sample(s)"
    lines = [f"ok   {root / 'json'}: {counts}"]
    for sample in registry.samples:
        try:
            registry.validate(sample.schema_uri, parse_json_strict(sample.path.read_bytes()))
            passed = True
        except PayloadRejected:
            passed = False
        if passed != sample.valid:
            lines.append(f"FAIL {sample.path}: expected {'valid' if sample.valid else 'invalid'}")
    return lines


def _failure(manifest: Path, exc: CatalogueError) -> str:
    """``FAIL <manifest>: <detail>``; the detail names another file if that one is at fault."""
    if exc.path == str(manifest):
        return f"FAIL {exc.detail}"
    return f"FAIL {manifest}: {exc.detail}"


def _joined(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _abbreviated(values: tuple[str, ...]) -> str:
    """The first entry file, plus how many more were compiled with it."""
    return values[0] + (f" (+{len(values) - 1} more)" if len(values) > 1 else "") if values else "-"


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)
