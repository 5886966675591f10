"""``xgw adapters new NAME``: names derived from NAME, every template rendered, clear refusals."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gateway.adapters.scaffold import Names, scaffold
from gateway.cli import Exit, main


def test_names_follow_from_the_adapter_name() -> None:
    assert Names.of("acme-dms-2") == Names(
        name="acme-dms-2",
        distribution="xgw-adapter-acme-dms-2",
        module="xgw_adapter_acme_dms_2",
        prefix="AcmeDms2",
    )


def test_the_package_has_the_entry_point_the_adapter_its_tests_and_a_readme(tmp_path: Path) -> None:
    made = scaffold("acme-dms", tmp_path / "pkg")
    assert sorted(p.relative_to(made.root).as_posix() for p in made.files) == [
        "README.md",
        "pyproject.toml",
        "tests/test_adapter.py",
        "xgw_adapter_acme_dms/__init__.py",
        "xgw_adapter_acme_dms/py.typed",
    ]
    project = tomllib.loads((made.root / "pyproject.toml").read_text("utf-8"))
    assert project["project"]["name"] == "xgw-adapter-acme-dms"
    assert project["project"]["entry-points"]["xoev_gateway.adapters"] == {
        "acme-dms": "xgw_adapter_acme_dms:AcmeDmsAdapter"
    }
    source = (made.root / "xgw_adapter_acme_dms" / "__init__.py").read_text("utf-8")
    assert "class AcmeDmsAdapter(Adapter[AcmeDmsOptions]):" in source
    assert (
        "from xgw_adapter_acme_dms import AcmeDmsAdapter" in (made.root / "tests/test_adapter.py").read_text()
    )
    assert not any("$" in p.read_text("utf-8") for p in made.files), "a placeholder was left"


def test_xgw_adapters_new_writes_into_the_directory_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["adapters", "new", "acme-dms", "--directory", str(tmp_path / "empty")]) == Exit.OK
    out = capsys.readouterr().out
    assert (tmp_path / "empty" / "pyproject.toml").is_file()
    assert f"next: pip install -e '{tmp_path / 'empty'}[test]' && pytest {tmp_path / 'empty'}" in out


@pytest.mark.parametrize("name", ["Acme", "acme_dms", "acme--dms", "acme-", "ácme", "1acme", "a" * 41, ""])
def test_an_invalid_name_is_refused_in_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["adapters", "new", name, "--directory", str(tmp_path / "pkg")]) == Exit.CONFIG
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"error: adapter name {name!r} is not valid: use lower-case letters, digits and single hyphens, "
        "starting with a letter, at most 40 characters (e.g. acme-dms)"
    )
    assert not (tmp_path / "pkg").exists()


@pytest.mark.parametrize("existing", ["directory", "file"])
def test_an_existing_directory_with_content_or_a_file_is_refused(
    existing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "pkg"
    if existing == "directory":
        target.mkdir()
        (target / "keep.txt").write_text("mine")
    else:
        target.write_text("mine")
    assert main(["adapters", "new", "acme-dms", "--directory", str(target)]) == Exit.CONFIG
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"error: {target} already exists and is not an empty directory: choose another --directory"
    assert sorted(p.name for p in tmp_path.rglob("*")) == (
        ["keep.txt", "pkg"] if existing == "directory" else ["pkg"]
    )
