"""Compile the XSDs of one schema set strictly offline.

Every document libxml2 wants while compiling (the entry files, each ``xs:include``,
``xs:import`` and ``xs:redefine``) goes through :class:`OfflineResolver`. It serves files
inside the set folder and URLs listed in the set's URL map, and refuses everything else
by raising, so nothing is ever fetched from the network or read from outside the set.
Every parser here comes from :mod:`gateway.validation.parsers`, so it also runs with
``no_network=True`` and without DTD loading or entity resolution.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree

from gateway.validation.errors import CatalogueError, ImportRefusedError
from gateway.validation.manifest import SchemaSpec, SetManifest
from gateway.validation.parsers import hardened_parser, schema_parser

__all__ = ["CompiledSchema", "OfflineResolver", "compile_schema", "global_elements"]

_XS = "http://www.w3.org/2001/XMLSchema"
_WRAPPER_NAME = "__catalogue_wrapper__.xsd"


class _Refused(Exception):
    """Raised inside libxml2's loader callback; surfaces as :class:`ImportRefusedError`."""


class OfflineResolver(etree.Resolver):  # type: ignore[misc]
    """Serve local files of one set and mapped URLs; refuse everything else."""

    def __init__(self, directory: Path, url_map: Mapping[str, Path | None]) -> None:
        super().__init__()
        self.directory = directory.resolve()
        self.url_map = url_map
        self.loaded: list[Path] = []
        self.refused: list[str] = []

    def resolve(self, system_url: str, public_id: str | None, context: object) -> object:
        target = self.target(system_url)
        if target is None:
            self.refused.append(system_url)
            raise _Refused(system_url)
        self.loaded.append(target)
        return self.resolve_filename(str(target), context)

    def target(self, url: str) -> Path | None:
        """The local file for ``url``, or ``None`` if it must not be loaded."""
        if url in self.url_map:
            return self.url_map[url]
        parts = urlsplit(url)
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            path = Path(unquote(parts.path))
        elif parts.scheme == "" and not parts.netloc:
            path = Path(url)
        else:
            return None
        resolved = path.resolve()
        if resolved.is_relative_to(self.directory) and resolved.is_file():
            return resolved
        return None


@dataclass(eq=False)
class CompiledSchema:
    """An lxml ``XMLSchema`` plus the files it was built from.

    lxml keeps the last error log on the schema object, so validation through
    :attr:`lock` is serialised per schema (libxml2 itself runs without the GIL).
    """

    schema: etree.XMLSchema
    files: tuple[Path, ...]
    lock: threading.Lock = field(default_factory=threading.Lock)


def compile_schema(manifest: SetManifest, spec: SchemaSpec) -> CompiledSchema:
    """Compile one ``[[schema]]`` entry. Raises :class:`CatalogueError`/:class:`ImportRefusedError`."""
    resolver = OfflineResolver(manifest.directory, manifest.url_map)
    parser = schema_parser(resolver)
    names = ", ".join(p.relative_to(manifest.directory.resolve()).as_posix() for p in spec.xsd)
    try:
        if len(spec.xsd) == 1:
            document = etree.parse(str(spec.xsd[0]), parser)
        else:
            wrapper = _wrapper(manifest, spec.xsd)
            base = str(manifest.directory.resolve() / _WRAPPER_NAME)
            document = etree.fromstring(wrapper, parser, base_url=base).getroottree()
        schema = etree.XMLSchema(document)
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError, OSError) as exc:
        if resolver.refused:
            raise _refused(manifest, resolver.refused) from exc
        raise CatalogueError(f"cannot compile {names}: {exc}", path=str(manifest.path)) from exc
    if resolver.refused:  # libxml2 may only warn about a failed import
        raise _refused(manifest, resolver.refused)
    files = tuple(dict.fromkeys([*spec.xsd, *resolver.loaded]))
    return CompiledSchema(schema=schema, files=files)


def global_elements(files: Iterable[Path]) -> set[tuple[str, str]]:
    """``(namespace, name)`` of every top-level ``xs:element`` in ``files`` (for checks)."""
    found: set[tuple[str, str]] = set()
    parser = hardened_parser()
    for path in files:
        root = etree.parse(str(path), parser).getroot()
        namespace = root.get("targetNamespace", "")
        for element in root.iterchildren(f"{{{_XS}}}element"):
            name = element.get("name")
            if name:
                found.add((namespace, name))
    return found


def _wrapper(manifest: SetManifest, files: tuple[Path, ...]) -> bytes:
    """A schema document that includes (one namespace) or imports (distinct ones) ``files``."""
    directory = manifest.directory.resolve()
    plain = hardened_parser()
    namespaces = [etree.parse(str(p), plain).getroot().get("targetNamespace", "") for p in files]
    root = etree.Element(f"{{{_XS}}}schema", nsmap={"xs": _XS})
    if len(set(namespaces)) == 1:
        if namespaces[0]:
            root.set("targetNamespace", namespaces[0])
        for path in files:
            etree.SubElement(root, f"{{{_XS}}}include", schemaLocation=path.relative_to(directory).as_posix())
    elif len(set(namespaces)) == len(namespaces) and all(namespaces):
        for path, namespace in zip(files, namespaces, strict=True):
            etree.SubElement(
                root,
                f"{{{_XS}}}import",
                namespace=namespace,
                schemaLocation=path.relative_to(directory).as_posix(),
            )
    else:
        raise CatalogueError(
            "entry files of one [[schema]] must share one target namespace or all differ",
            path=str(manifest.path),
        )
    result: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result


def _refused(manifest: SetManifest, urls: list[str]) -> ImportRefusedError:
    listed = ", ".join(dict.fromkeys(urls))
    return ImportRefusedError(
        f"import refused (not in the set folder and not in its URL map): {listed}",
        path=str(manifest.path),
        url=urls[0],
    )
