"""Every corpus sample gets the verdict the corpus records (VALIDATION-RESULTS.md, lxml column)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.validation import (
    PayloadRejected,
    SchemaCatalogue,
    SchemaViolationError,
    XmlNotWellFormedError,
)

from .conftest import CORPUS

XRECHNUNG = "urn:xoev-de:kosit:standard:xrechnung_3.0"
URI_BY_SET = {
    "xdomea-3.0.0": "urn:xoev-de:xdomea:schema:3.0.0",
    "xbau-2.6": "urn:xoev-de:bmk:standard:xbau_2.6",
    "xjustiz-3.5.1": "urn:xoev-de:blk-ag-it-standards:standard:xjustiz_3.5.1",
    "xwasser-1.0.0": "urn:xoev-de:lgl:standard:xwasser_1.0.0",
    "ubl-2.1-xrechnung": XRECHNUNG,
    "cii-d16b-xrechnung": XRECHNUNG,
}
XWAS = "/xwas:vorgang.transportieren.2010/xwas:vorgang/xwas:vorgangType/xwas:untersuchungsplan"
# sample -> (error class, line, path, message fragment) of the first finding
INVALID: dict[str, tuple[type[PayloadRejected], int, str, str]] = {
    # element order: probennahmestelleKategorie before datumZeitraum/untersuchungDurch
    "xwasser-1.0.0/samples/monitoring_plan_maximal.xml": (
        SchemaViolationError,
        75,
        f"{XWAS}/xwas:terminplan/xwas:probennahmestelleKategorie",
        "not expected",
    ),
    "xwasser-1.0.0/samples/monitoring_plan_minimal.xml": (
        SchemaViolationError,
        74,
        f"{XWAS}/xwas:terminplan/xwas:probennahmestelleKategorie",
        "not expected",
    ),
    # cbc:IssueDate commented out, so cbc:DueDate comes where IssueDate is required
    "ubl-2.1-xrechnung/samples/kosit-validator-configuration/instances/ubl005.xml": (
        SchemaViolationError,
        15,
        "/Invoice/cbc:DueDate",
        "cbc:IssueDate",
    ),
    # truncated file: not well-formed, so syntax-violation rather than schema-violation
    "ubl-2.1-xrechnung/samples/kosit-validator-configuration/instances/ubl007.xml": (
        XmlNotWellFormedError,
        536,
        "",
        "Premature end of data",
    ),
}


def _samples() -> list[str]:
    found = [
        path.relative_to(CORPUS).as_posix()
        for name in URI_BY_SET
        for path in sorted((CORPUS / name / "samples").rglob("*.xml"))
    ]
    assert len(found) == 159, "corpus copy is incomplete"
    return found


@pytest.mark.parametrize("relative", [s for s in _samples() if s not in INVALID])
def test_valid_corpus_sample_passes(catalogue: SchemaCatalogue, relative: str) -> None:
    uri = URI_BY_SET[relative.split("/", 1)[0]]
    result = catalogue.validate(uri, (CORPUS / relative).read_bytes(), max_bytes=10_000_000)
    assert result.set_name == relative.split("/", 1)[0]
    assert result.schema_uri == uri


@pytest.mark.parametrize("relative", sorted(INVALID))
def test_invalid_corpus_sample_names_the_offending_element(catalogue: SchemaCatalogue, relative: str) -> None:
    error_type, line, path, fragment = INVALID[relative]
    uri = URI_BY_SET[relative.split("/", 1)[0]]
    with pytest.raises(error_type) as caught:
        catalogue.validate(uri, (CORPUS / relative).read_bytes(), max_bytes=10_000_000)
    first = caught.value.findings[0]
    assert (first.line, first.path) == (line, path)
    assert fragment in first.message


def test_xwasser_invalid_sample_reports_every_problem(catalogue: SchemaCatalogue) -> None:
    data = (CORPUS / "xwasser-1.0.0/samples/monitoring_plan_maximal.xml").read_bytes()
    with pytest.raises(SchemaViolationError) as caught:
        catalogue.validate(URI_BY_SET["xwasser-1.0.0"], data, max_bytes=1_000_000)
    error = caught.value
    assert error.slug == "schema-violation"
    assert error.total == len(error.findings) == 3
    assert error.findings[1] == error.findings[1].__class__(
        line=95,
        path=f"{XWAS}/xwas:anlageNachTrinkwV/xwas:artAnlage",
        message="Element 'xwas:artAnlage', attribute 'listVersionID': The value '1' does not "
        "match the fixed value constraint '2'.",
    )


def test_corpus_oracle_files_are_present() -> None:
    assert (CORPUS / "VALIDATION-RESULTS.md").is_file()
    assert Path(CORPUS / "MANIFEST.md").is_file()
