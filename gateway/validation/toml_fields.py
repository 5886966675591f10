"""Reading the TOML manifests of the schema data: typed fields, each failure a ``CatalogueError``
that names the manifest."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from gateway.validation.errors import CatalogueError

__all__ = ["array", "local_file", "read_toml", "table", "text"]


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; unreadable or invalid TOML is a :class:`CatalogueError`."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"cannot read manifest: {exc}", path=str(path)) from exc


def local_file(directory: Path, relative: str, path: Path) -> Path:
    """Resolve ``relative`` inside ``directory``; refuse absolute paths, escapes and missing files."""
    candidate = (directory / relative).resolve()
    if Path(relative).is_absolute() or not candidate.is_relative_to(directory.resolve()):
        raise CatalogueError(f"{relative!r} is outside the set folder", path=str(path))
    if not candidate.is_file():
        raise CatalogueError(f"{relative!r} does not exist", path=str(path))
    return candidate


def table(value: Any, what: str, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CatalogueError(f"{what} must be a table", path=str(path))
    return value


def array(value: Any, what: str, path: Path) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise CatalogueError(f"{what} must be a non-empty array", path=str(path))
    return value


def text(value: Any, what: str, path: Path) -> str:
    if not isinstance(value, str) or not value:
        raise CatalogueError(f"{what} must be a non-empty string", path=str(path))
    return value
