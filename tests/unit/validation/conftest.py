"""Fixtures for the validation unit tests: the real catalogue, corpus samples, temp sets."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.validation import MetadataSchemas, SchemaCatalogue, default_schema_root

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"


@pytest.fixture(scope="session")
def schema_root() -> Path:
    return default_schema_root()


@pytest.fixture(scope="session")
def catalogue(schema_root: Path) -> SchemaCatalogue:
    return SchemaCatalogue.load(schema_root)


@pytest.fixture(scope="session")
def metadata_schemas(schema_root: Path) -> MetadataSchemas:
    return MetadataSchemas.load(schema_root)


@pytest.fixture
def sample() -> Callable[[str], bytes]:
    """Bytes of a corpus sample, by path relative to ``tests/data/corpus``."""

    def read(relative: str) -> bytes:
        return (CORPUS / relative).read_bytes()

    return read


@pytest.fixture
def make_set(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny schema set under ``<tmp>/schemas/xoev/<name>/`` and return the schema root.

    ``files`` maps paths relative to the set folder to their text; ``manifest`` is the TOML
    body after the ``[set]`` table.
    """

    def build(name: str, files: dict[str, str], manifest: str, *, url_map: str | None = None) -> Path:
        root = tmp_path / "schemas"
        folder = root / "xoev" / name
        for relative, text in files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        head = f'[set]\nname = "{name}"\nstandard = "Test"\nversion = "1"\n'
        if url_map is not None:
            (folder / "url-map.json").write_text(url_map, encoding="utf-8")
            head += 'url_map = "url-map.json"\n'
        (folder / "manifest.toml").write_text(head + textwrap.dedent(manifest), encoding="utf-8")
        return root

    return build
