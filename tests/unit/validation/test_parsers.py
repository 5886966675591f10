"""The parser factory: one security baseline for every lxml parser, and no parser built elsewhere."""

from __future__ import annotations

import ast
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from gateway.validation.parsers import hardened_parser, payload_parser, schema_parser

GATEWAY = Path(__file__).resolve().parents[3] / "gateway"
FACTORY = GATEWAY / "validation" / "parsers.py"
SECRET = "SECRET-FROM-DISK"


class SpyResolver(etree.Resolver):  # type: ignore[misc]
    """Records every document libxml2 asks for, then lets the parser's own rules decide."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def resolve(self, system_url: str, public_id: str | None, context: object) -> None:
        self.asked.append(system_url)
        return None


def _payload(spy: SpyResolver) -> etree.XMLParser:
    parser = payload_parser()
    parser.resolvers.add(spy)
    return parser


def _plain(spy: SpyResolver) -> etree.XMLParser:
    parser = hardened_parser()
    parser.resolvers.add(spy)
    return parser


FACTORIES: dict[str, Callable[[SpyResolver], etree.XMLParser]] = {
    "payload_parser": _payload,
    "schema_parser": schema_parser,
    "hardened_parser": _plain,
    "hardened_parser(resolver=...)": lambda spy: hardened_parser(resolver=spy),
}


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest) -> Callable[[SpyResolver], etree.XMLParser]:
    return FACTORIES[request.param]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """URIs of a secret file and of an external DTD that would inject an attribute and the secret."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(
        f'<!ATTLIST r injected CDATA "from-dtd"><!ENTITY leak SYSTEM "{secret.as_uri()}">', encoding="utf-8"
    )
    return {"secret": secret.as_uri(), "dtd": dtd.as_uri()}


def _documents(files: dict[str, str]) -> dict[str, bytes]:
    docs = {
        "external entity": f'<!DOCTYPE r [<!ENTITY e SYSTEM "{files["secret"]}">]><r>&e;</r>',
        "external DTD": f'<!DOCTYPE r SYSTEM "{files["dtd"]}"><r>&leak;</r>',
        "parameter entity": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{files["dtd"]}"> %p;]><r>&leak;</r>',
        "internal entity": f'<!DOCTYPE r [<!ENTITY e "{SECRET}">]><r>&e;</r>',
        "internal attribute default": '<!DOCTYPE r [<!ATTLIST r injected CDATA "from-dtd">]><r/>',
    }
    return {name: text.encode() for name, text in docs.items()}


def _leaked(root: etree._Element) -> bool:
    """Whether the tree holds the secret text or an attribute a DTD added.

    Checked on the serialized element: lxml's ``get()``, ``in attrib`` and XPath's ``string()``
    read through to a DOCTYPE's declarations at access time, whatever the parser did.
    """
    text = etree.tostring(root)
    return SECRET.encode() in text or b"injected" in text


@pytest.mark.parametrize("document", list(_documents({"secret": "", "dtd": ""})))
def test_no_parser_loads_a_dtd_or_substitutes_an_entity(
    make: Callable[[SpyResolver], etree.XMLParser], files: dict[str, str], document: str
) -> None:
    spy = SpyResolver()
    root = etree.fromstring(_documents(files)[document], make(spy))
    assert not _leaked(root)
    assert spy.asked == []  # libxml2 never even asked for the DTD or the entity
    assert root.getroottree().docinfo.externalDTD is None


@pytest.mark.parametrize("document", list(_documents({"secret": "", "dtd": ""})))
def test_the_documents_do_leak_through_a_parser_without_the_baseline(
    files: dict[str, str], document: str
) -> None:
    """Control: the hostile documents above are effective against a permissive parser."""
    permissive = etree.XMLParser(
        no_network=True, load_dtd=True, resolve_entities=True, attribute_defaults=True
    )
    assert _leaked(etree.fromstring(_documents(files)[document], permissive))


def test_collect_ids_off_would_load_an_external_dtd(files: dict[str, str]) -> None:
    """Why the factory keeps ``collect_ids`` on: off, libxml2 reads the DTD although ``load_dtd`` is off."""
    spy = SpyResolver()
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False, collect_ids=False)
    parser.resolvers.add(spy)
    root = etree.fromstring(_documents(files)["external DTD"], parser)
    assert spy.asked == [files["dtd"]] and root.getroottree().docinfo.externalDTD is not None


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def test_no_parser_touches_the_network(
    make: Callable[[SpyResolver], etree.XMLParser], listener: socket.socket
) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/doc.xml"
    with pytest.raises(OSError, match="network"):
        etree.parse(url, make(SpyResolver()))
    with pytest.raises(BlockingIOError):  # nobody connected
        listener.accept()


def test_without_no_network_the_refusal_reads_differently(listener: socket.socket) -> None:
    """Control: the ``network`` in the refusal above comes from ``no_network``."""
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/doc.xml"
    with pytest.raises(OSError) as caught:
        etree.parse(url, etree.XMLParser(no_network=False))
    assert "network" not in str(caught.value)


def test_no_parser_lifts_the_depth_limit_or_repairs_broken_xml(
    make: Callable[[SpyResolver], etree.XMLParser],
) -> None:
    deep = b"<a>" * 300 + b"</a>" * 300
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(deep, make(SpyResolver()))
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(b"<a><b></a>", make(SpyResolver()))


def test_payload_parser_drops_processing_instructions() -> None:
    root = etree.fromstring(b"<a><?x y?><b/></a>", payload_parser())
    assert [child.tag for child in root] == ["b"]


def test_schema_parser_offers_every_load_to_its_resolver(tmp_path: Path) -> None:
    (tmp_path / "part.xsd").write_text('<s xmlns="urn:x"/>', encoding="utf-8")
    spy = SpyResolver()
    etree.parse(str(tmp_path / "part.xsd"), schema_parser(spy))
    assert spy.asked == [str(tmp_path / "part.xsd")]


# --- no parser is built anywhere else --------------------------------------------------------

_NEEDS_PARSER = {"parse", "fromstring", "fromstringlist", "XML", "XMLID"}
_FORBIDDEN = {"XMLParser", "iterparse", "XMLPullParser", "HTMLParser", "HTML", "XInclude", "xinclude"}


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _offences(source: str, where: str, *, factory: bool = False) -> list[str]:
    """Parsers built (unless in the factory) and lxml parse calls that fall back to lxml's default."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name in _FORBIDDEN and not factory:
            found.append(f"{where}:{node.lineno} {name}()")
        is_etree = isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "etree"
        has_parser = len(node.args) >= 2 or any(kw.arg == "parser" for kw in node.keywords)
        if is_etree and name in _NEEDS_PARSER and not has_parser:
            found.append(f"{where}:{node.lineno} {name}() without a parser")
    return found


def test_xml_parsers_are_built_only_by_the_factory() -> None:
    sources = sorted(GATEWAY.rglob("*.py"))
    assert FACTORY in sources
    offences = [
        offence
        for path in sources
        for offence in _offences(
            path.read_text(encoding="utf-8"), str(path.relative_to(GATEWAY.parent)), factory=path == FACTORY
        )
    ]
    assert offences == []


def test_the_source_scan_reports_what_it_should() -> None:
    """Control for the scan: a parser built elsewhere, a bare parse, an XInclude; not the factory's own."""
    source = (
        "from lxml import etree\n"
        "p = etree.XMLParser(no_network=True)\n"
        "r = etree.fromstring(b'<a/>')\n"
        "etree.parse('x.xml', p).xinclude()\n"
        "ok = etree.fromstring(b'<a/>', parser=p)\n"
    )
    assert _offences(source, "m.py") == [
        "m.py:2 XMLParser()",
        "m.py:3 fromstring() without a parser",
        "m.py:4 xinclude()",
    ]
    assert _offences(source, "m.py", factory=True) == ["m.py:3 fromstring() without a parser"]
