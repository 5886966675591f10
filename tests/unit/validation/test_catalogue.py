"""The schemaUri catalogue: lookup, root checks, offline imports, manifests."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gateway.validation import (
    CatalogueError,
    ImportRefusedError,
    MissingSchemaError,
    SchemaCatalogue,
    SchemaViolationError,
    UnexpectedRootError,
    UnsupportedSchemaError,
)

XBAU = "urn:xoev-de:bmk:standard:xbau_2.6"
XBAU_SAMPLE = "xbau-2.6/samples/made-here/MADE-HERE_minimal_baugenehmigung.antrag.0200.xml"
UBL_INVOICE = "ubl-2.1-xrechnung/samples/oasis-examples/UBL-Invoice-2.1-Example.xml"
UBL_CREDIT = "ubl-2.1-xrechnung/samples/oasis-examples/UBL-CreditNote-2.1-Example.xml"
CII = (
    "cii-d16b-xrechnung/samples/kosit-xrechnung-testsuite/business-cases/standard/01.01a-INVOICE_uncefact.xml"
)
CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
LIMIT = 10_000_000

MAIN_XSD = """
    <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:c="urn:test:common"
               targetNamespace="urn:test:main" elementFormDefault="qualified">
      <xs:import namespace="urn:test:common" schemaLocation="{location}"/>
      <xs:element name="msg.0001">
        <xs:complexType><xs:sequence><xs:element ref="c:value"/></xs:sequence></xs:complexType>
      </xs:element>
    </xs:schema>
"""
COMMON_XSD = """
    <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test:common">
      <xs:element name="value" type="xs:int"/>
    </xs:schema>
"""
TEST_MANIFEST = """
    [[schema_uri]]
    uri = "urn:test:standard:main_1.0"

    [[schema]]
    xsd = ["xsd/main.xsd"]
    [schema.message_types]
    "urn:test:main" = ["msg.0001"]
"""
REMOTE = "http://127.0.0.1:9/common.xsd"


def message(value: str) -> bytes:
    return (
        f'<m:msg.0001 xmlns:m="urn:test:main" xmlns:c="urn:test:common"><c:value>{value}</c:value>'
        "</m:msg.0001>"
    ).encode()


# --- lookup ---------------------------------------------------------------------------------


def test_fragment_fixes_the_root_element(catalogue: SchemaCatalogue, sample: Callable[[str], bytes]) -> None:
    result = catalogue.validate(f"{XBAU}#baugenehmigung.antrag.0200", sample(XBAU_SAMPLE), max_bytes=LIMIT)
    assert (result.schema_uri, result.message_type) == (XBAU, "baugenehmigung.antrag.0200")
    assert result.namespace == "http://www.xleitstelle.de/xbau/2/6"


def test_fragment_naming_another_message_type_rejects_the_root(
    catalogue: SchemaCatalogue, sample: Callable[[str], bytes]
) -> None:
    with pytest.raises(UnexpectedRootError) as caught:
        catalogue.validate(f"{XBAU}#baugenehmigung.bescheid.0205", sample(XBAU_SAMPLE), max_bytes=LIMIT)
    assert caught.value.slug == "schema-violation"
    (finding,) = caught.value.findings
    assert (finding.line, finding.path) == (3, "/m:baugenehmigung.antrag.0200")
    assert "baugenehmigung.bescheid.0205" in finding.message


def test_fragment_with_unknown_message_type_is_unsupported(catalogue: SchemaCatalogue) -> None:
    assert not catalogue.knows(f"{XBAU}#no.such.message")
    with pytest.raises(UnsupportedSchemaError) as caught:
        catalogue.validate(f"{XBAU}#no.such.message", b"<x/>", max_bytes=LIMIT)
    assert caught.value.slug == "unsupported-schema"


def test_root_in_another_namespace_is_rejected_before_validation(
    catalogue: SchemaCatalogue, sample: Callable[[str], bytes]
) -> None:
    with pytest.raises(UnexpectedRootError) as caught:
        catalogue.validate("urn:xoev-de:xdomea:schema:3.0.0", sample(UBL_INVOICE), max_bytes=LIMIT)
    assert "urn:xoev-de:xdomea:schema:3.0.0" in caught.value.detail
    assert caught.value.findings[0].path == "/Invoice"


def test_root_that_is_no_message_type_is_rejected(catalogue: SchemaCatalogue) -> None:
    data = b'<x:Akte xmlns:x="urn:xoev-de:xdomea:schema:3.0.0"/>'
    with pytest.raises(UnexpectedRootError, match="not a message type"):
        catalogue.validate("urn:xoev-de:xdomea:schema:3.0.0", data, max_bytes=LIMIT)


def test_namespace_restricted_uri_accepts_only_its_document_type(
    catalogue: SchemaCatalogue, sample: Callable[[str], bytes]
) -> None:
    uri = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    assert catalogue.validate(uri, sample(UBL_INVOICE), max_bytes=LIMIT).message_type == "Invoice"
    with pytest.raises(UnexpectedRootError):
        catalogue.validate(uri, sample(UBL_CREDIT), max_bytes=LIMIT)


@pytest.mark.parametrize("uri", ["urn:xoev-de:kosit:standard:xrechnung_3.0", CUSTOMIZATION])
def test_xrechnung_uri_picks_the_syntax_from_the_root(
    catalogue: SchemaCatalogue, sample: Callable[[str], bytes], uri: str
) -> None:
    assert catalogue.validate(uri, sample(UBL_INVOICE), max_bytes=LIMIT).set_name == "ubl-2.1-xrechnung"
    assert catalogue.validate(uri, sample(UBL_CREDIT), max_bytes=LIMIT).message_type == "CreditNote"
    assert catalogue.validate(uri, sample(CII), max_bytes=LIMIT).set_name == "cii-d16b-xrechnung"


def test_uri_containing_hash_still_takes_a_message_type_fragment(
    catalogue: SchemaCatalogue, sample: Callable[[str], bytes]
) -> None:
    assert catalogue.knows(CUSTOMIZATION) and catalogue.knows(f"{CUSTOMIZATION}#Invoice")
    catalogue.validate(f"{CUSTOMIZATION}#CrossIndustryInvoice", sample(CII), max_bytes=LIMIT)
    with pytest.raises(UnexpectedRootError):
        catalogue.validate(f"{CUSTOMIZATION}#CrossIndustryInvoice", sample(UBL_INVOICE), max_bytes=LIMIT)


@pytest.mark.parametrize(
    "uri",
    ["urn:xoev-de:bmk:standard:xbau_2.5", "urn:xoev-de:bmk:standard:xbau", "https://example.org/x.xsd", "#x"],
)
def test_unknown_uri_is_unsupported(catalogue: SchemaCatalogue, uri: str) -> None:
    assert not catalogue.knows(uri)
    with pytest.raises(UnsupportedSchemaError) as caught:
        catalogue.validate(uri, b"<x/>", max_bytes=LIMIT)
    assert caught.value.schema_uri == uri


@pytest.mark.parametrize("uri", [None, "", "  "])
def test_absent_uri_is_missing_schema(catalogue: SchemaCatalogue, uri: str | None) -> None:
    with pytest.raises(MissingSchemaError) as caught:
        catalogue.validate(uri, b"<x/>", max_bytes=LIMIT)
    assert caught.value.slug == "missing-schema"


def test_entries_describe_every_accepted_uri(catalogue: SchemaCatalogue) -> None:
    by_key = {(e.schema_uri, e.set_name): e for e in catalogue.entries()}
    xbau = by_key[(XBAU, "xbau-2.6")]
    assert len(xbau.message_types) == 135 and "baugenehmigung.antrag.0200" in xbau.message_types
    assert len(xbau.root_xsd) == 23
    assert by_key[("urn:xoev-de:lgl:standard:xwasser_1.0.0", "xwasser-1.0.0")].root_xsd == (
        "xsd/xwasser.xsd",
    )
    assert ("urn:xoev-de:kosit:standard:xrechnung_3.0", "cii-d16b-xrechnung") in by_key
    for uri in (
        XBAU,
        "urn:xoev-de:xdomea:kosit:standard:xdomea_3.0.0",
        "urn:xoev-de:blk-ag-it-standards:standard:xjustiz_3.5.1",
    ):
        assert catalogue.knows(uri)


def test_a_second_compiled_schema_serves_kernmodul_messages(catalogue: SchemaCatalogue) -> None:
    data = b'<k:universellerAntrag.antrag.1200 xmlns:k="http://www.xleitstelle.de/xbau/kernmodul/1/3/0"/>'
    with pytest.raises(SchemaViolationError) as caught:  # the element is known, its content is not
        catalogue.validate(XBAU, data, max_bytes=LIMIT)
    assert not isinstance(caught.value, UnexpectedRootError)
    assert "No matching global declaration" not in caught.value.findings[0].message


def test_findings_are_capped_at_twenty_with_the_total_kept(catalogue: SchemaCatalogue) -> None:
    body = "".join(f"<m:unbekannt{i}/>" for i in range(200))
    data = f'<m:nachricht.eeb.zuruecklaufend.2200007 xmlns:m="http://www.xjustiz.de">{body}</m:nachricht.eeb.zuruecklaufend.2200007>'
    with pytest.raises(SchemaViolationError) as caught:
        catalogue.validate(
            "urn:xoev-de:blk-ag-it-standards:standard:xjustiz_3.5.1", data.encode(), max_bytes=LIMIT
        )
    assert len(caught.value.findings) <= 20
    assert caught.value.total >= len(caught.value.findings)
    assert caught.value.findings[0].path == "/m:nachricht.eeb.zuruecklaufend.2200007/m:unbekannt0"


def test_concurrent_validation_keeps_results_apart(
    catalogue: SchemaCatalogue, sample: Callable[[str], bytes]
) -> None:
    good = sample(UBL_INVOICE)
    bad = sample("ubl-2.1-xrechnung/samples/kosit-validator-configuration/instances/ubl005.xml")

    def run(i: int) -> str:
        try:
            catalogue.validate(
                "urn:xoev-de:kosit:standard:xrechnung_3.0", bad if i % 2 else good, max_bytes=LIMIT
            )
        except SchemaViolationError as exc:
            return exc.findings[0].path
        return "ok"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(40)))
    assert results == ["ok", "/Invoice/cbc:DueDate"] * 20


def test_loading_all_sets_is_fast(schema_root: Path) -> None:
    started = time.perf_counter()
    SchemaCatalogue.load(schema_root)
    assert time.perf_counter() - started < 3.0  # about 0.2 s on the CI machine


# --- offline import resolution --------------------------------------------------------------


def test_absolute_import_resolves_through_the_url_map(make_set: Callable[..., Path]) -> None:
    root = make_set(
        "mapped-1",
        {"xsd/main.xsd": MAIN_XSD.format(location=REMOTE), "xsd/_external/common.xsd": COMMON_XSD},
        TEST_MANIFEST,
        url_map=f'{{"map": {{"{REMOTE}": "xsd/_external/common.xsd"}}}}',
    )
    catalogue = SchemaCatalogue.load(root)
    assert (
        catalogue.validate("urn:test:standard:main_1.0", message("42"), max_bytes=LIMIT).message_type
        == "msg.0001"
    )
    with pytest.raises(SchemaViolationError) as caught:
        catalogue.validate("urn:test:standard:main_1.0", message("x"), max_bytes=LIMIT)
    assert caught.value.findings[0].path == "/m:msg.0001/c:value"


@pytest.mark.parametrize(
    ("location", "url_map"),
    [
        (REMOTE, None),  # absolute URL, no map
        (REMOTE, f'{{"map": {{"{REMOTE}": null}}}}'),  # mapped to "not available"
        ("https://xoev.de/schemata/other.xsd", f'{{"map": {{"{REMOTE}": "xsd/common.xsd"}}}}'),
        ("../../outside.xsd", None),  # relative path leaving the set folder
        ("file:///etc/passwd", None),
    ],
)
def test_unmapped_import_is_refused(
    make_set: Callable[..., Path], location: str, url_map: str | None
) -> None:
    root = make_set(
        "refusing-1",
        {"xsd/main.xsd": MAIN_XSD.format(location=location), "xsd/common.xsd": COMMON_XSD},
        TEST_MANIFEST,
        url_map=url_map,
    )
    (root / "xoev" / "outside.xsd").write_text(COMMON_XSD, encoding="utf-8")
    with pytest.raises(ImportRefusedError) as caught:
        SchemaCatalogue.load(root)
    assert caught.value.path.endswith("refusing-1/manifest.toml")
    assert caught.value.url


def test_relative_import_inside_the_set_loads(make_set: Callable[..., Path]) -> None:
    root = make_set(
        "local-1",
        {"xsd/main.xsd": MAIN_XSD.format(location="../lib/common.xsd"), "lib/common.xsd": COMMON_XSD},
        TEST_MANIFEST,
    )
    SchemaCatalogue.load(root).validate("urn:test:standard:main_1.0", message("1"), max_bytes=LIMIT)


# --- manifests ------------------------------------------------------------------------------


def _valid_files() -> dict[str, str]:
    return {"xsd/main.xsd": MAIN_XSD.format(location="common.xsd"), "xsd/common.xsd": COMMON_XSD}


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        (TEST_MANIFEST.replace("xsd/main.xsd", "xsd/missing.xsd"), "does not exist"),
        (TEST_MANIFEST.replace("xsd/main.xsd", "../../../../etc/hosts"), "outside the set folder"),
        (
            TEST_MANIFEST.replace(
                'uri = "urn:test:standard:main_1.0"', 'uri = "urn:x"\nnamespaces = ["urn:y"]'
            ),
            "undeclared namespaces",
        ),
        (TEST_MANIFEST.replace('["msg.0001"]', '["a", "a"]'), "duplicate message type"),
        ("[[schema_uri]]\nuri = 'urn:x'\n", "schema must be a non-empty array"),
        ("not toml = = 1", "cannot read manifest"),
    ],
)
def test_broken_manifest_is_a_catalogue_error(
    make_set: Callable[..., Path], manifest: str, error: str
) -> None:
    root = make_set("broken-1", _valid_files(), manifest)
    with pytest.raises(CatalogueError, match=error) as caught:
        SchemaCatalogue.load(root)
    assert caught.value.path.endswith(".toml") or caught.value.path.endswith(".json")


def test_set_name_must_match_its_folder(make_set: Callable[..., Path]) -> None:
    root = make_set("named-1", _valid_files(), TEST_MANIFEST)
    manifest = root / "xoev" / "named-1" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('name = "named-1"', 'name = "other"'))
    with pytest.raises(CatalogueError, match="folder name"):
        SchemaCatalogue.load(root)


def test_two_sets_claiming_one_uri_and_root_conflict(make_set: Callable[..., Path]) -> None:
    make_set("first-1", _valid_files(), TEST_MANIFEST)
    root = make_set("second-1", _valid_files(), TEST_MANIFEST)
    with pytest.raises(CatalogueError, match="also declared by set first-1"):
        SchemaCatalogue.load(root)


def test_entry_files_with_mixed_namespaces_are_refused(make_set: Callable[..., Path]) -> None:
    files = {**_valid_files(), "xsd/other.xsd": MAIN_XSD.format(location="common.xsd")}
    root = make_set(
        "mixed-1",
        files,
        TEST_MANIFEST.replace('["xsd/main.xsd"]', '["xsd/main.xsd", "xsd/other.xsd", "xsd/common.xsd"]'),
    )
    with pytest.raises(CatalogueError, match="share one target namespace"):
        SchemaCatalogue.load(root)


def test_missing_xoev_folder_is_a_catalogue_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no 'xoev' folder"):
        SchemaCatalogue.load(tmp_path)


def test_findings_stay_small_for_huge_element_names(catalogue: SchemaCatalogue) -> None:
    name = "x" * 40_000
    body = f"<{name}><{name}/></{name}>" * 30
    data = f'<m:nachricht.eeb.zuruecklaufend.2200007 xmlns:m="http://www.xjustiz.de">{body}</m:nachricht.eeb.zuruecklaufend.2200007>'
    with pytest.raises(SchemaViolationError) as caught:
        catalogue.validate(
            "urn:xoev-de:blk-ag-it-standards:standard:xjustiz_3.5.1", data.encode(), max_bytes=LIMIT
        )
    size = sum(len(f.path) + len(f.message) for f in caught.value.findings) + len(caught.value.detail)
    assert size < 64 * 1024


def test_a_lazy_catalogue_compiles_a_set_only_when_it_is_used() -> None:
    from gateway.validation import default_schema_root

    lazy = SchemaCatalogue.load(default_schema_root(), lazy=True)
    assert lazy.knows("urn:xoev-de:bmk:standard:xbau_2.6")
    deferred = [t.loaded for table in lazy._routes.values() for t in table.values()]
    assert deferred and not any(d._compiled for d in deferred)  # type: ignore[union-attr]
    lazy.warm(["urn:xoev-de:bmk:standard:xbau_2.6", "urn:unknown"])
    compiled = {id(d) for d in deferred if d._compiled is not None}  # type: ignore[union-attr]
    assert compiled and len(compiled) < len({id(d) for d in deferred})
