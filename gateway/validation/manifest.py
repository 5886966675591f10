"""Schema set manifests: the data that makes adding a standard "files plus one TOML file".

Each set lives in ``<schema root>/xoev/<set>/`` with its XSD tree and a ``manifest.toml``::

    [set]
    name = "xbau-2.6"                     # must equal the folder name
    standard = "XBau"
    version = "2.6"
    url_map = "url-map.json"              # optional: absolute import URL -> local file

    [[schema_uri]]                        # one per accepted submissionSchema.schemaUri
    uri = "urn:xoev-de:bmk:standard:xbau_2.6"
    note = "why a sender uses this value"
    namespaces = ["..."]                  # optional: only roots in these namespaces

    [[schema]]                            # one compiled XSD
    xsd = ["xsd/xbau-nachrichten-baugenehmigung.xsd", "..."]   # entry files
    [schema.message_types]                # root element namespace -> local names
    "http://www.xleitstelle.de/xbau/2/6" = ["baugenehmigung.antrag.0200", "..."]

Several entry files are compiled together through a generated wrapper schema: files that
share one target namespace are included, files with distinct namespaces are imported.
The URL map is JSON ``{"map": {"<url>": "<path relative to the set>" | null}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.validation.errors import CatalogueError
from gateway.validation.toml_fields import array as _array
from gateway.validation.toml_fields import local_file as _local_file
from gateway.validation.toml_fields import read_toml
from gateway.validation.toml_fields import table as _table
from gateway.validation.toml_fields import text as _text

__all__ = ["MANIFEST_NAME", "SchemaSpec", "SetManifest", "UriSpec", "find_manifests", "read_manifest"]

MANIFEST_NAME = "manifest.toml"


@dataclass(frozen=True, eq=False)
class SchemaSpec:
    """One compiled schema: its entry files and the message types (roots) it declares."""

    xsd: tuple[Path, ...]
    message_types: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, eq=False)
class UriSpec:
    """One accepted ``schemaUri``; ``namespaces`` restricts it to some root namespaces."""

    uri: str
    note: str
    namespaces: tuple[str, ...] | None


@dataclass(frozen=True, eq=False)
class SetManifest:
    """A parsed and checked ``manifest.toml``."""

    path: Path
    name: str
    standard: str
    version: str
    url_map: Mapping[str, Path | None]
    schemas: tuple[SchemaSpec, ...]
    uris: tuple[UriSpec, ...]

    @property
    def directory(self) -> Path:
        return self.path.parent


def find_manifests(root: Path) -> list[Path]:
    """All set manifests under ``<root>/xoev``, sorted by set name."""
    return sorted((root / "xoev").glob(f"*/{MANIFEST_NAME}"))


def read_manifest(path: Path) -> SetManifest:
    """Read and check one manifest. Raises :class:`CatalogueError` naming ``path``."""
    raw = read_toml(path)
    directory = path.parent.resolve()
    info = _table(raw.get("set"), "[set]", path)
    name = _text(info.get("name"), "set.name", path)
    if name != path.parent.name:
        raise CatalogueError(f"set.name {name!r} differs from its folder name", path=str(path))
    url_map: dict[str, Path | None] = {}
    if "url_map" in info:
        url_map = _read_url_map(directory, _text(info["url_map"], "set.url_map", path), path)
    schemas = tuple(_schema(directory, item, path) for item in _array(raw.get("schema"), "schema", path))
    namespaces = {ns for spec in schemas for ns in spec.message_types}
    uris = tuple(_uri(item, namespaces, path) for item in _array(raw.get("schema_uri"), "schema_uri", path))
    return SetManifest(
        path=path,
        name=name,
        standard=_text(info.get("standard"), "set.standard", path),
        version=_text(info.get("version"), "set.version", path),
        url_map=url_map,
        schemas=schemas,
        uris=uris,
    )


def _schema(directory: Path, raw: Any, path: Path) -> SchemaSpec:
    item = _table(raw, "[[schema]]", path)
    files = tuple(
        _local_file(directory, _text(f, "schema.xsd", path), path)
        for f in _array(item.get("xsd"), "schema.xsd", path)
    )
    types: dict[str, tuple[str, ...]] = {}
    for namespace, names in _table(item.get("message_types"), "schema.message_types", path).items():
        local_names = tuple(
            _text(n, f"message_types[{namespace!r}]", path) for n in _array(names, "message_types", path)
        )
        if len(set(local_names)) != len(local_names):
            raise CatalogueError(f"duplicate message type in namespace {namespace!r}", path=str(path))
        types[namespace] = local_names
    if not types:
        raise CatalogueError("schema.message_types must not be empty", path=str(path))
    return SchemaSpec(xsd=files, message_types=types)


def _uri(raw: Any, namespaces: set[str], path: Path) -> UriSpec:
    item = _table(raw, "[[schema_uri]]", path)
    uri = _text(item.get("uri"), "schema_uri.uri", path)
    if any(ch.isspace() for ch in uri):
        raise CatalogueError(f"schema_uri {uri!r} contains whitespace", path=str(path))
    restrict: tuple[str, ...] | None = None
    if "namespaces" in item:
        restrict = tuple(
            _text(n, "schema_uri.namespaces", path) for n in _array(item["namespaces"], "namespaces", path)
        )
        unknown = sorted(set(restrict) - namespaces)
        if unknown:
            raise CatalogueError(f"schema_uri {uri!r} names undeclared namespaces {unknown}", path=str(path))
    return UriSpec(uri=uri, note=str(item.get("note", "")), namespaces=restrict)


def _read_url_map(directory: Path, name: str, path: Path) -> dict[str, Path | None]:
    map_path = _local_file(directory, name, path)
    try:
        raw = json.loads(map_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"cannot read URL map: {exc}", path=str(map_path)) from exc
    entries = _table(raw.get("map") if isinstance(raw, dict) else None, "url map 'map'", map_path)
    return {
        url: None if target is None else _local_file(directory, _text(target, url, map_path), map_path)
        for url, target in entries.items()
    }
