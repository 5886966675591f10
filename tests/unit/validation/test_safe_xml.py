"""The hardened XML parser: UTF-8 only, no DOCTYPE, bounded, typed errors."""

from __future__ import annotations

import codecs

import pytest

from gateway.validation import (
    MAX_DEPTH,
    DoctypeForbiddenError,
    DocumentTooLargeError,
    EncodingViolationError,
    NestingTooDeepError,
    SyntaxViolationError,
    XmlNotWellFormedError,
)
from gateway.validation.safe_xml import parse_xml

LIMIT = 1_000_000


def test_plain_utf8_document_parses_with_line_numbers() -> None:
    root = parse_xml('<?xml version="1.0" encoding="utf-8"?>\n<a>\n <b>ä</b>\n</a>'.encode(), max_bytes=LIMIT)
    assert root.tag == "a" and root[0].text == "ä" and root[0].sourceline == 3


def test_utf8_bom_and_comments_and_pis_before_the_root_are_fine() -> None:
    data = codecs.BOM_UTF8 + b'<?xml version="1.0"?>\n<!-- c -->\n<?pi x?>\n<a/>'
    assert parse_xml(data, max_bytes=LIMIT).tag == "a"


def test_processing_instructions_are_dropped() -> None:
    root = parse_xml(b'<?xml-stylesheet href="x.xsl"?><a><?x y?></a>', max_bytes=LIMIT)
    assert len(root) == 0 and root.getprevious() is None


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE a><a/>",
        b'<?xml version="1.0"?>\n<!-- x -->\n<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
        b'<!DOCTYPE a SYSTEM "a.dtd"><a/>',
        b"<!ELEMENT a ANY><a/>",
    ],
)
def test_doctype_is_forbidden(data: bytes) -> None:
    with pytest.raises(DoctypeForbiddenError) as caught:
        parse_xml(data, max_bytes=LIMIT)
    assert caught.value.slug == "syntax-violation"
    assert caught.value.reason == "xml-doctype-forbidden"


def test_doctype_finding_names_its_line() -> None:
    with pytest.raises(DoctypeForbiddenError) as caught:
        parse_xml(b'<?xml version="1.0"?>\n\n<!DOCTYPE a>\n<a/>', max_bytes=LIMIT)
    assert caught.value.findings[0].line == 3


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'<?xml version="1.0" encoding="UTF-7"?><a/>', None),
        ('<?xml version="1.0" encoding="UTF-16"?><a/>'.encode("utf-16"), None),
        (codecs.BOM_UTF16_BE + "<a/>".encode("utf-16-be"), None),
        (codecs.BOM_UTF8 + b'<?xml version="1.0" encoding="ISO-8859-1"?><a/>', None),
        (b"<?xml version='1.0' encoding='latin1'?><a/>", None),
        (b"<a>\n\xe4</a>", 2),
        (b"<a>\xed\xa0\x80</a>", 1),  # UTF-8 encoded surrogate
        (b"<a>\n\n\x00</a>", 3),
    ],
)
def test_anything_but_utf8_is_rejected(data: bytes, where: int | None) -> None:
    with pytest.raises(EncodingViolationError) as caught:
        parse_xml(data, max_bytes=LIMIT)
    assert caught.value.reason == "encoding-not-utf8"
    if where is not None:
        assert caught.value.findings[0].line == where


def test_byte_limit_is_checked_first() -> None:
    with pytest.raises(DocumentTooLargeError, match="11 bytes, the limit is 10"):
        parse_xml(b"<a>xxxx</a>", max_bytes=10)


def test_element_count_is_bounded_before_parsing() -> None:
    data = b"<a>" + b"<b/>" * 101 + b"</a>"
    with pytest.raises(DocumentTooLargeError) as caught:
        parse_xml(data, max_bytes=LIMIT, max_elements=100)
    assert caught.value.reason == "too-many-elements"
    assert parse_xml(data, max_bytes=LIMIT, max_elements=102) is not None


def test_depth_is_bounded_by_libxml2() -> None:
    nested = b"<a>" * (MAX_DEPTH + 5) + b"</a>" * (MAX_DEPTH + 5)
    with pytest.raises(NestingTooDeepError):
        parse_xml(nested, max_bytes=LIMIT)
    ok = b"<a>" * (MAX_DEPTH - 6) + b"</a>" * (MAX_DEPTH - 6)
    assert parse_xml(ok, max_bytes=LIMIT).tag == "a"


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"", None),
        (b"   ", None),
        (b"<a>\n<b></a>", 2),
        (b"<a>&undefined;</a>", 1),
        (b"<a/><b/>", 1),
        (b"<!-- never closed <a/>", None),
        (b"text", 1),
    ],
)
def test_malformed_input_is_not_well_formed(data: bytes, line: int | None) -> None:
    with pytest.raises(XmlNotWellFormedError) as caught:
        parse_xml(data, max_bytes=LIMIT)
    if line is not None:
        assert caught.value.findings[0].line == line


def test_every_error_is_a_syntax_violation() -> None:
    for cls in (
        DoctypeForbiddenError,
        DocumentTooLargeError,
        EncodingViolationError,
        NestingTooDeepError,
        XmlNotWellFormedError,
    ):
        assert issubclass(cls, SyntaxViolationError) and cls.slug == "syntax-violation"


def test_padded_xml_declaration_cannot_hide_its_encoding() -> None:
    data = b'<?xml version="1.0"' + b" " * 5000 + b'encoding="ISO-8859-1"?><a/>'
    with pytest.raises(EncodingViolationError):
        parse_xml(data, max_bytes=LIMIT)
