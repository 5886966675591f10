"""Cases A1-A14 (SECURITY-CASES.md, "A. XML payload") at the parser and validator level.

Each hostile payload must end in the expected typed error (never another exception), leak
nothing, open no connection (a TCP listener on 127.0.0.1 counts attempts) and stay within
time and memory bounds (peak RSS via /proc/self/status).
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.validation import (
    DoctypeForbiddenError,
    DocumentTooLargeError,
    EncodingViolationError,
    NestingTooDeepError,
    PayloadRejected,
    SchemaCatalogue,
    SchemaViolationError,
    UnexpectedRootError,
    UnsupportedSchemaError,
    default_schema_root,
    safe_xml,
)
from tests.eventually import eventually_sync

REPO = Path(__file__).resolve().parents[2]
XBAU = "urn:xoev-de:bmk:standard:xbau_2.6"
XBAU_NS = b"http://www.xleitstelle.de/xbau/2/6"
XBAU_SAMPLE = (
    REPO / "tests/data/corpus/xbau-2.6/samples/made-here/MADE-HERE_minimal_baugenehmigung.antrag.0200.xml"
)
CAP = 10 * 1024 * 1024  # a plaintext cap of the kind intake enforces
MB = 1024 * 1024

pytestmark = pytest.mark.timeout(60)


class Listener:
    """A TCP canary on 127.0.0.1: counts every connection it receives."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port: int = self.server.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def stays_quiet(self) -> bool:
        """No connection came, after letting a moment pass on purpose: the canary accepts in a
        thread, so a connection already made shows up within it."""
        time.sleep(0.1)
        return self.accepted == 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    canary = Listener()
    yield canary
    canary.close()


@pytest.fixture(scope="module")
def catalogue() -> SchemaCatalogue:
    return SchemaCatalogue.load(default_schema_root())


@pytest.fixture
def xbau() -> bytes:
    return XBAU_SAMPLE.read_bytes()


@pytest.fixture
def without_prolog_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Disable the DOCTYPE pre-scan to prove the parser settings hold on their own."""
    monkeypatch.setattr(safe_xml, "_check_prolog", lambda data: None)


@pytest.fixture
def no_urlopen(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("urlopen must never be called")

    monkeypatch.setattr(urllib.request, "urlopen", fail)


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


def bounded(action: Callable[[], object], *, seconds: float, memory: int) -> None:
    """Run ``action`` (which must raise a PayloadRejected) within a time and peak-RSS budget."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")  # reset VmHWM to the current RSS
        field = "VmHWM"
    except OSError:
        field = "VmRSS"
    before = _status("VmRSS")
    started = time.perf_counter()
    with pytest.raises(PayloadRejected):
        action()
    elapsed = time.perf_counter() - started
    grown = _status(field) - before
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert grown < memory, f"RSS grew by {grown / MB:.1f} MB"


def _leaks(error: PayloadRejected, secret: str = "root:") -> bool:
    text = error.detail + "".join(f"{f.path} {f.message}" for f in error.findings)
    return secret in text


def test_listener_canary_counts_connections(listener: Listener) -> None:
    with socket.create_connection(("127.0.0.1", listener.port), timeout=2):
        pass
    assert eventually_sync(lambda: listener.accepted, within=2, interval=0.01, what="the connection") == 1


# --- A1-A3: external entities, DTDs, SSRF ---------------------------------------------------


@pytest.mark.usefixtures("no_urlopen")
def test_a1_xxe_local_file_is_rejected_and_leaks_nothing(catalogue: SchemaCatalogue) -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(DoctypeForbiddenError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert caught.value.slug == "syntax-violation" and caught.value.reason == "xml-doctype-forbidden"
    assert not _leaks(caught.value)


@pytest.mark.usefixtures("without_prolog_scan")
def test_a1_parser_alone_neither_expands_nor_accepts_the_entity() -> None:
    data = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(DoctypeForbiddenError) as caught:
        safe_xml.parse_xml(data, max_bytes=CAP)
    assert not _leaks(caught.value)


@pytest.mark.parametrize("scan", [True, False], ids=["with-prescan", "parser-only"])
@pytest.mark.usefixtures("no_urlopen")
def test_a2_xxe_ssrf_opens_no_connection(
    listener: Listener, monkeypatch: pytest.MonkeyPatch, catalogue: SchemaCatalogue, scan: bool
) -> None:
    if not scan:
        monkeypatch.setattr(safe_xml, "_check_prolog", lambda data: None)
    data = f'<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:{listener.port}/x">]><r>&x;</r>'.encode()
    with pytest.raises(DoctypeForbiddenError):
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert listener.stays_quiet()


@pytest.mark.parametrize("scan", [True, False], ids=["with-prescan", "parser-only"])
@pytest.mark.parametrize(
    "template",
    [
        '<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/e.dtd"><r/>',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p"> %p;]><r/>',
        '<!DOCTYPE r PUBLIC "-//X//DTD X//EN" "http://127.0.0.1:{port}/x.dtd"><r/>',
    ],
    ids=["external-dtd", "parameter-entity", "public-id"],
)
@pytest.mark.usefixtures("no_urlopen")
def test_a3_external_dtd_and_parameter_entities_are_never_fetched(
    listener: Listener, monkeypatch: pytest.MonkeyPatch, catalogue: SchemaCatalogue, template: str, scan: bool
) -> None:
    if not scan:
        monkeypatch.setattr(safe_xml, "_check_prolog", lambda data: None)
    data = template.format(port=listener.port).encode()
    with pytest.raises(DoctypeForbiddenError):
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert listener.stays_quiet()


# --- A4, A5: entity expansion bombs ---------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)


@pytest.mark.parametrize("scan", [True, False], ids=["with-prescan", "parser-only"])
def test_a4_billion_laughs_is_rejected_fast_and_small(
    monkeypatch: pytest.MonkeyPatch, catalogue: SchemaCatalogue, scan: bool
) -> None:
    if not scan:
        monkeypatch.setattr(safe_xml, "_check_prolog", lambda data: None)
    assert len(BILLION_LAUGHS) < 2000
    bounded(lambda: catalogue.validate(XBAU, BILLION_LAUGHS, max_bytes=CAP), seconds=1.0, memory=50 * MB)


@pytest.mark.parametrize("scan", [True, False], ids=["with-prescan", "parser-only"])
def test_a5_quadratic_blowup_is_rejected_fast_and_small(
    monkeypatch: pytest.MonkeyPatch, catalogue: SchemaCatalogue, scan: bool
) -> None:
    if not scan:
        monkeypatch.setattr(safe_xml, "_check_prolog", lambda data: None)
    data = b'<!DOCTYPE r [<!ENTITY a "' + b"x" * 100_000 + b'">]><r>' + b"&a;" * 20_000 + b"</r>"
    bounded(lambda: catalogue.validate(XBAU, data, max_bytes=CAP), seconds=1.0, memory=50 * MB)


# --- A6: XInclude ---------------------------------------------------------------------------

XI = b'xmlns:xi="http://www.w3.org/2001/XInclude"'


def test_a6_xinclude_root_is_rejected_as_foreign_root(catalogue: SchemaCatalogue) -> None:
    data = b"<r " + XI + b'><xi:include href="file:///etc/passwd" parse="text"/></r>'
    with pytest.raises(UnexpectedRootError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert not _leaks(caught.value)


def test_a6_xinclude_inside_a_message_is_a_schema_violation(catalogue: SchemaCatalogue, xbau: bytes) -> None:
    data = xbau.replace(
        b"<m:anlagen>", b"<m:anlagen><xi:include " + XI + b' href="file:///etc/passwd" parse="text"/>'
    )
    with pytest.raises(SchemaViolationError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert caught.value.findings[0].path == "/m:baugenehmigung.antrag.0200/m:anlagen/xi:include"
    assert not _leaks(caught.value)


def test_a6_gateway_never_processes_inclusions_or_stylesheets() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {word}"
        for path in (REPO / "gateway").rglob("*.py")
        for word in ("xinclude(", "xslt(")
        if word in path.read_text(encoding="utf-8").lower()
    ]
    assert offenders == []


# --- A7: schemaLocation hints ---------------------------------------------------------------


@pytest.mark.usefixtures("no_urlopen")
def test_a7_foreign_root_with_schema_location_is_rejected_before_validation(
    listener: Listener, catalogue: SchemaCatalogue
) -> None:
    data = (
        '<e:baugenehmigung.antrag.0200 xmlns:e="urn:evil" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="urn:evil http://127.0.0.1:{listener.port}/evil.xsd"/>'
    ).encode()
    with pytest.raises(UnexpectedRootError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert "urn:evil" in caught.value.detail
    assert listener.stays_quiet()


@pytest.mark.usefixtures("no_urlopen")
def test_a7_schema_location_hints_on_a_valid_message_are_ignored(
    listener: Listener, catalogue: SchemaCatalogue, xbau: bytes
) -> None:
    hint = (
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="'
        + XBAU_NS
        + b" file:///etc/passwd urn:other http://127.0.0.1:"
        + str(listener.port).encode()
        + b'/o.xsd" xsi:noNamespaceSchemaLocation="http://127.0.0.1:'
        + str(listener.port).encode()
        + b'/n.xsd" '
    )
    data = xbau.replace(b'xmlns:m="', hint + b'xmlns:m="', 1)
    assert catalogue.validate(XBAU, data, max_bytes=CAP).message_type == "baugenehmigung.antrag.0200"
    assert listener.stays_quiet()


# --- A8-A10: size and shape bounds -----------------------------------------------------------


def test_a8_deep_nesting_is_a_syntax_violation(catalogue: SchemaCatalogue) -> None:
    data = b"<a>" * 10_000 + b"</a>" * 10_000
    bounded(lambda: catalogue.validate(XBAU, data, max_bytes=CAP), seconds=1.0, memory=20 * MB)
    with pytest.raises(NestingTooDeepError):
        catalogue.validate(XBAU, data, max_bytes=CAP)


def test_a8_depth_just_under_the_limit_reaches_the_schema(catalogue: SchemaCatalogue) -> None:
    inner = b"<a>" * 250 + b"</a>" * 250
    data = (
        b'<m:baugenehmigung.antrag.0200 xmlns:m="'
        + XBAU_NS
        + b'">'
        + inner
        + b"</m:baugenehmigung.antrag.0200>"
    )
    with pytest.raises(SchemaViolationError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert caught.value.findings[-1].path == "/m:baugenehmigung.antrag.0200/a"
    assert "This element is not expected" in caught.value.findings[-1].message


@pytest.mark.parametrize("shape", ["attribute", "text"])
def test_a9_huge_text_or_attribute_hits_the_parser_limit(catalogue: SchemaCatalogue, shape: str) -> None:
    blob = b"x" * (15 * MB)
    data = b'<a v="' + blob + b'"/>' if shape == "attribute" else b"<a>" + blob + b"</a>"
    bounded(lambda: catalogue.validate(XBAU, data, max_bytes=64 * MB), seconds=5.0, memory=3 * len(data))
    with pytest.raises(DocumentTooLargeError) as caught:
        catalogue.validate(XBAU, data, max_bytes=64 * MB)
    assert caught.value.reason == "parser-limit"


def test_a9_payload_over_the_cap_is_refused_before_parsing(catalogue: SchemaCatalogue) -> None:
    data = b"<a>" + b"x" * (15 * MB) + b"</a>"
    bounded(lambda: catalogue.validate(XBAU, data, max_bytes=CAP), seconds=0.5, memory=5 * MB)


def test_a10_element_flood_is_refused_before_parsing(catalogue: SchemaCatalogue) -> None:
    data = b"<r>" + b"<a/>" * 2_000_000 + b"</r>"
    assert len(data) < 10 * MB
    bounded(lambda: catalogue.validate(XBAU, data, max_bytes=CAP), seconds=5.0, memory=20 * MB)
    with pytest.raises(DocumentTooLargeError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert caught.value.reason == "too-many-elements"


# --- A11, A12: encodings and processing instructions -----------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0" encoding="UTF-7"?><r/>',
        '<?xml version="1.0" encoding="UTF-16"?><r/>'.encode("utf-16"),
        b'\xef\xbb\xbf<?xml version="1.0" encoding="ISO-8859-1"?><r/>',
        b"<r>\xc3\x28</r>",
        b"<r>\x00</r>",
    ],
    ids=["utf-7", "utf-16-bom", "bom-plus-latin1", "invalid-utf8", "nul"],
)
def test_a11_anything_but_utf8_gets_one_stable_code(catalogue: SchemaCatalogue, data: bytes) -> None:
    with pytest.raises(EncodingViolationError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert (caught.value.slug, caught.value.reason) == ("syntax-violation", "encoding-not-utf8")


@pytest.mark.usefixtures("no_urlopen")
def test_a12_stylesheet_instruction_is_ignored(
    listener: Listener, catalogue: SchemaCatalogue, xbau: bytes
) -> None:
    pi = f'<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:{listener.port}/x.xsl"?>\n'.encode()
    data = xbau.replace(b"<!-- MADE HERE", pi + b"<!-- MADE HERE", 1)
    assert catalogue.validate(XBAU, data, max_bytes=CAP).set_name == "xbau-2.6"
    assert listener.stays_quiet()


# --- A13, A14: schema-invalid and wrong-version messages --------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "fragment"),
    [
        (
            b"<m:bezeichnungDesBauvorhabens>A</m:bezeichnungDesBauvorhabens>",
            b"",
            42,
            "/m:baugenehmigung.antrag.0200/m:bauvorhaben/m:beteiligte",
            "Expected is ( m:bezeichnungDesBauvorhabens )",
        ),
        (
            b"<code>10</code>",
            b"<code>99999</code>",
            71,
            "/m:baugenehmigung.antrag.0200/m:bauvorhaben/m:gegenstand/m:artDerMassnahme/code",
            "'99999' is not an element of the set",
        ),
    ],
    ids=["missing-mandatory-element", "wrong-code-list-value"],
)
def test_a13_schema_invalid_message_names_the_element(
    catalogue: SchemaCatalogue, xbau: bytes, old: bytes, new: bytes, line: int, path: str, fragment: str
) -> None:
    with pytest.raises(SchemaViolationError) as caught:
        catalogue.validate(XBAU, xbau.replace(old, new, 1), max_bytes=CAP)
    (finding,) = caught.value.findings
    assert (finding.line, finding.path) == (line, path)
    assert fragment in finding.message


def test_a13_ten_thousand_errors_give_twenty_findings(catalogue: SchemaCatalogue, xbau: bytes) -> None:
    junk = b"".join(b'<m:anlagen><anlage x="%d"/></m:anlagen>' % i for i in range(10_000))
    data = xbau.replace(b"</m:baugenehmigung.antrag.0200>", junk + b"</m:baugenehmigung.antrag.0200>")
    started = time.perf_counter()
    with pytest.raises(SchemaViolationError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert time.perf_counter() - started < 5.0
    error = caught.value
    assert 0 < len(error.findings) <= 20 and error.total >= len(error.findings)
    assert len(error.detail) + sum(len(f.path) + len(f.message) + 8 for f in error.findings) < 64 * 1024


def test_a14_message_in_another_version_namespace_is_rejected_before_validation(
    catalogue: SchemaCatalogue, xbau: bytes
) -> None:
    data = xbau.replace(XBAU_NS, b"http://www.xleitstelle.de/xbau/2/5")
    with pytest.raises(UnexpectedRootError) as caught:
        catalogue.validate(XBAU, data, max_bytes=CAP)
    assert "http://www.xleitstelle.de/xbau/2/5" in caught.value.detail


def test_a14_unsupported_version_uri_is_unsupported_schema(catalogue: SchemaCatalogue, xbau: bytes) -> None:
    for uri in (
        "urn:xoev-de:bmk:standard:xbau_2.5",
        "urn:xoev-de:bmk:standard:xbau_2.5#baugenehmigung.antrag.0200",
    ):
        with pytest.raises(UnsupportedSchemaError) as caught:
            catalogue.validate(uri, xbau, max_bytes=CAP)
        assert caught.value.slug == "unsupported-schema"
