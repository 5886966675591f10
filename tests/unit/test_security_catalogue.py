"""docs/security.md lists every case of the security catalogue with tests that exist."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "docs" / "security.md"
#: The shared reference next to the repository; the ids below are its cases when it is absent.
CATALOGUE = REPO.parent / "shared" / "reference" / "SECURITY-CASES.md"
GROUPS = {"A": 14, "B": 16, "C": 5, "D": 10, "E": 7, "F": 23}
EXPECTED = {f"{group}{n}" for group, count in GROUPS.items() for n in range(1, count + 1)}


def catalogue_ids(text: str) -> set[str]:
    """The case ids of the catalogue: each case starts a paragraph with ``**A1 Name.**``."""
    return set(re.findall(r"^\*\*([A-F]\d+) ", text, re.MULTILINE))


def table_rows(text: str) -> dict[str, list[str]]:
    """Case id → the test node ids of its row in docs/security.md."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"^\| ([A-F]\d+) \|.*\|([^|]*)\|$", line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} listed twice"
            rows[match.group(1)] = re.findall(r"`([^`]+::[^`]+)`", match.group(2))
    return rows


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """``name`` and ``Class::name`` of every test function defined in a test file."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return frozenset(n for n in names if n.rsplit("::", 1)[-1].startswith("test_"))


def missing_tests(node_ids: list[str]) -> list[str]:
    """The node ids (parameters in brackets allowed) that name no test function."""
    missing = []
    for node_id in node_ids:
        file, _, name = node_id.partition("::")
        path = REPO / file
        if not (path.is_file() and name.split("[", 1)[0] in defined_tests(path)):
            missing.append(node_id)
    return missing


def test_the_expected_ids_are_the_catalogues() -> None:
    assert len(EXPECTED) == 75
    if CATALOGUE.is_file():
        assert catalogue_ids(CATALOGUE.read_text(encoding="utf-8")) == EXPECTED


def test_every_case_has_a_row_with_at_least_one_test() -> None:
    rows = table_rows(TABLE.read_text(encoding="utf-8"))
    assert sorted(EXPECTED - set(rows)) == []
    assert sorted(set(rows) - EXPECTED) == []
    assert [case for case, tests in rows.items() if not tests] == []


def test_every_listed_test_exists() -> None:
    rows = table_rows(TABLE.read_text(encoding="utf-8"))
    assert {case: gone for case, tests in rows.items() if (gone := missing_tests(tests))} == {}


def test_the_checks_notice_a_missing_case_and_a_missing_test() -> None:
    rows = table_rows(
        "| A1 | x | y | `tests/unit/test_security_catalogue.py::test_every_listed_test_exists` |\n"
        "| A2 | x | y | `tests/unit/test_security_catalogue.py::test_no_such_thing[p]` |\n"
    )
    assert set(rows) == {"A1", "A2"} and EXPECTED - set(rows)
    assert missing_tests(rows["A1"]) == []
    assert missing_tests(rows["A2"]) == ["tests/unit/test_security_catalogue.py::test_no_such_thing[p]"]
    assert catalogue_ids("**A1 XXE.** In: …\n**B16 Replay.** In: …\n") == {"A1", "B16"}
