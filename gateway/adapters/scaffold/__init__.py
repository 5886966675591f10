"""``xgw adapters new NAME``: a separately installable adapter package that passes its own tests.

:func:`scaffold` renders the templates in ``template/`` (package data; ``$``-placeholders of
:class:`string.Template`) into a new directory: ``pyproject.toml`` with the entry point, the
adapter and its options model, tests with the contract kit and the pytest plugin, and a README.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from gateway.errors import ConfigError

__all__ = ["NAME_PATTERN", "Names", "Scaffold", "scaffold"]

#: An adapter name: lower-case words of letters and digits joined by hyphens, e.g. ``acme-dms``.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_NAME = 40


@dataclass(frozen=True)
class Names:
    """What the templates call the adapter."""

    name: str  #: entry-point name, as operators write it in the configuration: ``acme-dms``
    distribution: str  #: ``xgw-adapter-acme-dms``
    module: str  #: ``xgw_adapter_acme_dms``
    prefix: str  #: class-name prefix: ``AcmeDms`` (``AcmeDmsAdapter``, ``AcmeDmsOptions``)

    @classmethod
    def of(cls, name: str) -> Names:
        """Raises :class:`ConfigError` for a name that is not ``lower-case-words`` (at most 40)."""
        if len(name) > MAX_NAME or not NAME_PATTERN.match(name):
            raise ConfigError(
                f"adapter name {name!r} is not valid: use lower-case letters, digits and single "
                f"hyphens, starting with a letter, at most {MAX_NAME} characters (e.g. acme-dms)"
            )
        return cls(
            name=name,
            distribution=f"xgw-adapter-{name}",
            module=f"xgw_adapter_{name.replace('-', '_')}",
            prefix="".join(part.capitalize() for part in name.split("-")),
        )


@dataclass(frozen=True)
class Scaffold:
    """A package written by :func:`scaffold`: its names, its directory and its files."""

    names: Names
    root: Path
    files: tuple[Path, ...]


def scaffold(name: str, directory: Path | None = None) -> Scaffold:
    """Write the package for adapter ``name`` into ``directory`` (default:
    ``./xgw-adapter-<name>``).

    Raises :class:`ConfigError` for an invalid name, or a ``directory`` that exists and is not an
    empty directory.
    """
    names = Names.of(name)
    target = directory if directory is not None else Path(names.distribution)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(
            f"{target} already exists and is not an empty directory: choose another --directory"
        )
    written = []
    for source, relative in _templates(resources.files(__package__).joinpath("template"), ()):
        path = target.joinpath(*(names.module if part == "package" else part for part in relative))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(string.Template(source.read_text("utf-8")).substitute(asdict(names)), "utf-8")
        written.append(path)
    return Scaffold(names, target, tuple(written))


def _templates(folder: Traversable, relative: tuple[str, ...]) -> list[tuple[Traversable, tuple[str, ...]]]:
    """Each template file with its path below ``template/`` (``.tmpl`` dropped), sorted."""
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found += _templates(entry, (*relative, entry.name))
        elif entry.name.endswith(".tmpl"):
            found.append((entry, (*relative, entry.name.removesuffix(".tmpl"))))
    return found
