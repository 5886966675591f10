"""``xgw schemas list`` / ``xgw schemas check`` output."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.validation import CatalogueError, check_schemas, list_schemas


def test_list_shows_one_row_per_uri_and_set(schema_root: Path) -> None:
    xml_table, json_table, metadata_table = list_schemas(schema_root).split("\n\n")
    lines = xml_table.splitlines()
    assert lines[0].split() == ["schemaUri", "set", "root", "XSD", "namespace", "message", "types"]
    assert set(lines[1]) <= {"-", " "}
    rows = {line.split()[0] + " " + line.split()[1]: line for line in lines[2:]}
    assert len(rows) == len(lines) - 2 == 14
    xbau = rows["urn:xoev-de:bmk:standard:xbau_2.6 xbau-2.6"]
    assert "xsd/xbau-nachrichten-abgeschlossenheitsbescheinigung.xsd (+22 more)" in xbau
    assert xbau.rstrip().endswith("135")
    assert "xsd/xwasser.xsd" in rows["urn:xoev-de:lgl:standard:xwasser_1.0.0 xwasser-1.0.0"]
    assert "urn:xoev-de:kosit:standard:xrechnung_3.0 cii-d16b-xrechnung" in rows
    assert "urn:xoev-de:kosit:standard:xrechnung_3.0 ubl-2.1-xrechnung" in rows
    assert json_table.splitlines()[0].split() == ["JSON", "schemaUri", "set", "schema", "origin"]
    assert any(
        "fim-hundesteuer-anmeldung-1.0" in row and row.endswith("ours") for row in json_table.splitlines()
    )
    versions = {row.split()[0]: row.split()[-1] for row in metadata_table.splitlines()[2:]}
    assert versions["1.0.0"] == "fitko" and versions["2.1.0"] == "ours" and len(versions) == 8


def test_check_passes_for_the_shipped_catalogue(schema_root: Path) -> None:
    ok, report = check_schemas(schema_root)
    assert ok, report
    lines = report.splitlines()
    assert len(lines) == 8 and all(line.startswith("ok   ") for line in lines)
    assert any("xbau-2.6/manifest.toml: 2 schema(s), 135 message type(s)" in line for line in lines)
    assert lines[-2].endswith("json: 2 JSON schemaUri(s), 6 sample(s)")
    assert lines[-1].endswith("versions 1.0.0, 1.1.0, 1.1.1, 1.2.0, 1.3.0, 1.5.0, 2.0.0, 2.1.0")


XS = 'xmlns:xs="http://www.w3.org/2001/XMLSchema"'
REFUSED_XSD = (
    f'<xs:schema {XS}><xs:import namespace="urn:x" schemaLocation="http://127.0.0.1:9/x.xsd"/></xs:schema>'
)
SMALL_XSD = f'<xs:schema {XS} targetNamespace="urn:u"><xs:element name="a"/></xs:schema>'


def small_manifest(uri: str, namespace: str, types: str) -> str:
    return (
        f'[[schema_uri]]\nuri = "{uri}"\n[[schema]]\nxsd = ["xsd/main.xsd"]\n'
        f'[schema.message_types]\n"{namespace}" = {types}\n'
    )


def test_check_reports_each_broken_set_with_its_manifest(
    schema_root: Path, tmp_path: Path, make_set: Callable[..., Path]
) -> None:
    root = make_set("broken-2", {"xsd/main.xsd": REFUSED_XSD}, small_manifest("urn:b", "", '["x"]'))
    make_set("undeclared-2", {"xsd/main.xsd": SMALL_XSD}, small_manifest("urn:u", "urn:u", '["a", "b"]'))
    shutil.copytree(schema_root / "xoev" / "xjustiz-3.5.1", root / "xoev" / "xjustiz-3.5.1")
    ok, report = check_schemas(root)
    assert not ok
    lines = report.splitlines()
    assert lines[0].startswith(f"FAIL {root / 'xoev' / 'broken-2' / 'manifest.toml'}: import refused")
    assert "http://127.0.0.1:9/x.xsd" in lines[0]
    undeclared = root / "xoev" / "undeclared-2" / "manifest.toml"
    assert lines[1] == f"FAIL {undeclared}: message types without a global element: {{urn:u}}b"
    assert lines[2].startswith("ok   ") and "xjustiz-3.5.1" in lines[2]
    assert lines[3].startswith("ok   ") and "0 JSON schemaUri(s)" in lines[3]
    assert lines[4].startswith("FAIL") and "no metadata manifest" in lines[4]


def test_list_fails_loudly_on_a_broken_catalogue(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError):
        list_schemas(tmp_path)
