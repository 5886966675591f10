"""The XSD catalogue: ``schemaUri`` -> compiled schema -> validated XML payload.

All sets under ``<root>/xoev/*/manifest.toml`` are compiled once, at load, with lxml; the
hot path parses the payload with :func:`~gateway.validation.safe_xml.parse_xml`, picks the
schema from the payload's root element (namespace + local name) among those the
``schemaUri`` allows, and validates with the compiled ``XMLSchema``.

A ``schemaUri`` may carry ``#<message type>`` (``urn:xoev-de:bmk:standard:xbau_2.6#
baugenehmigung.antrag.0200``); the root element must then be exactly that message type.
URIs that contain ``#`` themselves (the XRechnung CustomizationID) are matched exactly first.

Outcome contract: :meth:`SchemaCatalogue.validate` returns a :class:`ValidatedXml` or raises
a :class:`~gateway.validation.errors.PayloadRejected` subclass whose ``slug`` is the
FIT-Connect problem and whose ``findings`` say where (at most 20).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from gateway.validation.errors import (
    CatalogueError,
    Finding,
    MissingSchemaError,
    SchemaViolationError,
    UnexpectedRootError,
    UnsupportedSchemaError,
)
from gateway.validation.manifest import SchemaSpec, SetManifest, find_manifests, read_manifest
from gateway.validation.safe_xml import DEFAULT_MAX_ELEMENTS, parse_xml
from gateway.validation.xsd_findings import findings_from_log
from gateway.validation.xsd_loader import CompiledSchema, compile_schema

__all__ = ["CatalogueEntry", "SchemaCatalogue", "ValidatedXml", "load_set"]

_ECHO_LIMIT = 200


@dataclass(frozen=True)
class CatalogueEntry:
    """One accepted ``schemaUri`` as served by one set (a URI shared by two sets: two entries)."""

    schema_uri: str
    set_name: str
    root_xsd: tuple[str, ...]
    namespaces: tuple[str, ...]
    message_types: tuple[str, ...]
    manifest: Path
    note: str


@dataclass(frozen=True)
class ValidatedXml:
    """A payload that passed: which set and which message type it is."""

    schema_uri: str
    set_name: str
    namespace: str
    message_type: str


class _Deferred:
    """Compiles one schema on first use (thread-safe), so a process pays only for what it uses."""

    def __init__(self, manifest: SetManifest, spec: SchemaSpec) -> None:
        self._manifest, self._spec = manifest, spec
        self._lock = threading.Lock()
        self._compiled: CompiledSchema | None = None

    def __call__(self) -> CompiledSchema:
        with self._lock:
            if self._compiled is None:
                self._compiled = compile_schema(self._manifest, self._spec)
            return self._compiled


Loaded = CompiledSchema | _Deferred


@dataclass(frozen=True, eq=False)
class _Target:
    set_name: str
    loaded: Loaded

    @property
    def compiled(self) -> CompiledSchema:
        return self.loaded() if isinstance(self.loaded, _Deferred) else self.loaded


Route = dict[tuple[str, str], _Target]


def load_set(manifest: SetManifest) -> list[tuple[SchemaSpec, CompiledSchema]]:
    """Compile every ``[[schema]]`` of one set. Raises :class:`CatalogueError`."""
    return [(spec, compile_schema(manifest, spec)) for spec in manifest.schemas]


class SchemaCatalogue:
    """Immutable after :meth:`load`; safe to share between threads."""

    def __init__(self, routes: dict[str, Route], entries: Iterable[CatalogueEntry]) -> None:
        self._routes = routes
        self._entries = tuple(entries)

    @classmethod
    def load(cls, root: Path, *, lazy: bool = False) -> SchemaCatalogue:
        """Read and compile every set under ``<root>/xoev``.

        With ``lazy``, manifests are read now and each schema is compiled on first use (a set
        costs memory only once a submission needs it; ``warm`` compiles chosen URIs ahead).
        Raises :class:`CatalogueError` (a ``ConfigError``) for the first set that cannot be
        loaded, naming its manifest, and for a URI + root element claimed by two sets.
        """
        if not (root / "xoev").is_dir():
            raise CatalogueError("no 'xoev' folder in the schema root", path=str(root))
        manifests = [read_manifest(path) for path in find_manifests(root)]
        if lazy:
            return cls.from_sets((m, [(spec, _Deferred(m, spec)) for spec in m.schemas]) for m in manifests)
        return cls.from_sets((m, load_set(m)) for m in manifests)

    def warm(self, schema_uris: Iterable[str]) -> None:
        """Compile the schemas of these URIs now (unknown URIs are ignored)."""
        for uri in schema_uris:
            if self.knows(uri):
                for target in self._route(uri)[1].values():
                    _ = target.compiled

    @classmethod
    def from_sets(
        cls, sets: Iterable[tuple[SetManifest, Sequence[tuple[SchemaSpec, Loaded]]]]
    ) -> SchemaCatalogue:
        """Build the lookup tables from already compiled sets."""
        routes: dict[str, Route] = {}
        entries: list[CatalogueEntry] = []
        for manifest, compiled in sets:
            for uri in manifest.uris:
                table = routes.setdefault(uri.uri, {})
                files: list[str] = []
                names: set[tuple[str, str]] = set()
                for spec, schema in compiled:
                    for namespace, locals_ in spec.message_types.items():
                        if uri.namespaces is not None and namespace not in uri.namespaces:
                            continue
                        files.extend(_relative(manifest, p) for p in spec.xsd)
                        for local in locals_:
                            other = table.get((namespace, local))
                            if other is not None:
                                raise CatalogueError(
                                    f"{uri.uri} root {{{namespace}}}{local} is also declared by "
                                    f"set {other.set_name}",
                                    path=str(manifest.path),
                                )
                            table[(namespace, local)] = _Target(manifest.name, schema)
                            names.add((namespace, local))
                entries.append(
                    CatalogueEntry(
                        schema_uri=uri.uri,
                        set_name=manifest.name,
                        root_xsd=tuple(dict.fromkeys(files)),
                        namespaces=tuple(sorted({ns for ns, _ in names})),
                        message_types=tuple(sorted(local for _, local in names)),
                        manifest=manifest.path,
                        note=uri.note,
                    )
                )
        return cls(routes, entries)

    def entries(self) -> tuple[CatalogueEntry, ...]:
        """Every accepted ``schemaUri`` per set, in manifest order."""
        return self._entries

    def knows(self, schema_uri: str) -> bool:
        """Whether ``schema_uri`` (optionally with ``#<message type>``) is accepted."""
        try:
            self._route(schema_uri)
        except (MissingSchemaError, UnsupportedSchemaError):
            return False
        return True

    def validate(
        self,
        schema_uri: str | None,
        data: bytes,
        *,
        max_bytes: int,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
    ) -> ValidatedXml:
        """Parse ``data`` safely and validate it against the schema of ``schema_uri``.

        Raises :class:`MissingSchemaError` (no URI), :class:`UnsupportedSchemaError` (URI or
        message type not in the catalogue), a :class:`SyntaxViolationError` subclass
        (unsafe or not well-formed), :class:`UnexpectedRootError` (root in another namespace
        or not a message type of the URI; checked before validation) or
        :class:`SchemaViolationError` with at most 20 findings.
        """
        uri, table, fragment = self._route(schema_uri)
        root = parse_xml(data, max_bytes=max_bytes, max_elements=max_elements)
        qname = etree.QName(root)
        key = (qname.namespace or "", qname.localname)
        target = table.get(key)
        if target is None or (fragment is not None and key[1] != fragment):
            raise _unexpected_root(root, key, uri, fragment, table)
        compiled = target.compiled
        with compiled.lock:
            valid = compiled.schema.validate(root.getroottree())
            log = None if valid else compiled.schema.error_log
        if log is not None:
            findings, total = findings_from_log(log, root)
            raise SchemaViolationError(
                f"{total} schema violation(s) against {uri} ({target.set_name})",
                findings=findings,
                total=total,
            )
        return ValidatedXml(schema_uri=uri, set_name=target.set_name, namespace=key[0], message_type=key[1])

    def _route(self, schema_uri: str | None) -> tuple[str, Route, str | None]:
        if schema_uri is None or not schema_uri.strip():
            raise MissingSchemaError("no schemaUri given for the data")
        table = self._routes.get(schema_uri)
        if table is not None:
            return schema_uri, table, None
        base, sep, fragment = schema_uri.rpartition("#")
        table = self._routes.get(base) if sep and fragment else None
        if table is not None:
            if any(local == fragment for _, local in table):
                return base, table, fragment
            raise UnsupportedSchemaError(
                f"{base} has no message type {fragment[:_ECHO_LIMIT]!r}", schema_uri=schema_uri
            )
        raise UnsupportedSchemaError(
            f"schemaUri {schema_uri[:_ECHO_LIMIT]!r} is not in the schema catalogue",
            schema_uri=schema_uri,
        )


def _unexpected_root(
    root: etree._Element,
    key: tuple[str, str],
    uri: str,
    fragment: str | None,
    table: Route,
) -> UnexpectedRootError:
    namespace, local = key
    shown = f"{{{namespace}}}{local}" if namespace else local
    expected = sorted({ns for ns, _ in table})
    if fragment is not None:
        why = f"the schemaUri fixes the message type to {fragment!r}"
    elif namespace not in expected:
        why = f"expected a root element in namespace {' or '.join(expected)}"
    else:
        why = f"{local!r} is not a message type of {uri}"
    detail = f"root element {shown[:_ECHO_LIMIT]} does not fit {uri}: {why}"
    name = f"{root.prefix}:{local}" if root.prefix else local
    finding = Finding(line=root.sourceline, path=f"/{name}"[:_ECHO_LIMIT], message=detail)
    return UnexpectedRootError(detail, findings=[finding])


def _relative(manifest: SetManifest, path: Path) -> str:
    return path.relative_to(manifest.directory.resolve()).as_posix()
