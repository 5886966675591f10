"""Hardened parsing of untrusted XML payloads.

The rules (cases A1-A12 of the security catalogue):

* UTF-8 only: no UTF-16/32 byte order mark, no NUL byte, no declared encoding other than
  UTF-8, no invalid UTF-8 sequence.
* No DOCTYPE at all, so no DTD, no entity declaration and no entity expansion; the prolog
  is scanned before parsing and ``docinfo`` is checked again after it.
* The parser never touches the network or the file system (``no_network``, no DTD
  loading, no entity resolution); inclusion directives are never processed and
  ``xsi:schemaLocation`` hints are never followed (validation uses a compiled schema).
* Bounded: bytes (``max_bytes``), elements (``max_elements``, counted cheaply before
  parsing), depth (libxml2's limit of 256 without ``huge_tree``), single text nodes and
  attribute values (libxml2's 10 MB limits without ``huge_tree``).
* Processing instructions (e.g. ``xml-stylesheet``) are dropped; no transformation is
  ever applied.

Every failure is a typed :class:`~gateway.validation.errors.SyntaxViolationError`.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from gateway.validation.errors import (
    DoctypeForbiddenError,
    DocumentTooLargeError,
    EncodingViolationError,
    Finding,
    NestingTooDeepError,
    XmlNotWellFormedError,
)
from gateway.validation.parsers import payload_parser

__all__ = ["DEFAULT_MAX_ELEMENTS", "MAX_DEPTH", "parse_xml"]

MAX_DEPTH = 256
"""Maximum element depth: libxml2's own limit while ``huge_tree`` is off."""

DEFAULT_MAX_ELEMENTS = 500_000
"""Default bound on markup starts (elements, comments, PIs) in one document."""

_FOREIGN_BOMS = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)
_XML_DECL = re.compile(rb"<\?xml[ \t\r\n](?P<attrs>[^?>]*+)\?>")
_ENCODING = re.compile(rb"""encoding[ \t\r\n]*+=[ \t\r\n]*+(["'])(?P<name>[^"']*+)\1""")
# Whitespace, comments and processing instructions that may precede the root element.
# Possessive quantifiers keep the scan linear on hostile input.
_MISC = re.compile(rb"(?:[ \t\r\n]++|<!--(?:[^-]|-(?!->))*+-->|<\?(?:[^?]|\?(?!>))*+\?>)*+")
_MESSAGE_LIMIT = 300


def parse_xml(data: bytes, *, max_bytes: int, max_elements: int = DEFAULT_MAX_ELEMENTS) -> etree._Element:
    """Parse untrusted XML into an lxml element tree and return its root element.

    Raises :class:`DocumentTooLargeError`, :class:`EncodingViolationError`,
    :class:`DoctypeForbiddenError`, :class:`NestingTooDeepError` or
    :class:`XmlNotWellFormedError` (all ``syntax-violation``); never anything else for
    any input.
    """
    if len(data) > max_bytes:
        raise DocumentTooLargeError(f"document has {len(data)} bytes, the limit is {max_bytes}")
    _check_encoding(data)
    _check_prolog(data)
    markup = data.count(b"<") - data.count(b"</")
    if markup > max_elements:
        raise DocumentTooLargeError(
            f"document has about {markup} elements, the limit is {max_elements}",
            reason="too-many-elements",
        )
    parser = payload_parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise _translate(exc, parser.error_log) from None
    if root is None:  # pragma: no cover - lxml raises for empty documents
        raise XmlNotWellFormedError("document has no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DoctypeForbiddenError("a DOCTYPE is not allowed")
    return root


def _check_encoding(data: bytes) -> None:
    """Reject everything that is not plain UTF-8."""
    if data.startswith(_FOREIGN_BOMS):
        raise EncodingViolationError("only UTF-8 is accepted; found a UTF-16/32 byte order mark")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise EncodingViolationError(
            "NUL bytes are not allowed", findings=[_byte_finding(data, nul, "NUL byte")]
        )
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    decl = _XML_DECL.match(data, start)
    if decl is not None:
        enc = _ENCODING.search(decl.group("attrs"))
        if enc is not None and enc.group("name").lower() not in (b"utf-8", b"utf8"):
            name = enc.group("name")[:40].decode("ascii", "replace")
            raise EncodingViolationError(f"only UTF-8 is accepted; the document declares {name!r}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingViolationError(
            "document is not valid UTF-8",
            findings=[_byte_finding(data, exc.start, "invalid UTF-8 sequence")],
        ) from None


def _check_prolog(data: bytes) -> None:
    """Reject a DOCTYPE (or any other ``<!`` declaration) before the root element."""
    pos = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    decl = _XML_DECL.match(data, pos)
    if decl is not None:
        pos = decl.end()
    misc = _MISC.match(data, pos)
    if misc is not None:
        pos = misc.end()
    if data.startswith(b"<!", pos) and not data.startswith(b"<!--", pos):
        raise DoctypeForbiddenError(
            "a DOCTYPE is not allowed", findings=[_byte_finding(data, pos, "DOCTYPE declaration")]
        )


def _byte_finding(data: bytes, offset: int, message: str) -> Finding:
    return Finding(line=data.count(b"\n", 0, offset) + 1, path="", message=message)


def _translate(exc: etree.XMLSyntaxError, log: etree._ListErrorLog) -> Exception:
    """Map a libxml2 parse error to one of our typed errors.

    ``log`` is this parser's own error log: ``exc.error_log`` can also carry entries of earlier
    parses in the same thread, which once turned a truncated document into a DOCTYPE error.
    """
    message = str(exc.msg or exc)[:_MESSAGE_LIMIT]
    line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
    findings = [Finding(line=line, path="", message=message)]
    if exc.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT:
        if "depth" in message.lower():
            return NestingTooDeepError(f"elements are nested deeper than {MAX_DEPTH}", findings=findings)
        return DocumentTooLargeError(
            "a text node, attribute or name exceeds the parser limit",
            findings=findings,
            reason="parser-limit",
        )
    if any(entry.domain == etree.ErrorDomains.IO for entry in log):
        # an external DTD or entity that the parser refused to load
        return DoctypeForbiddenError("external DTDs and entities are not loaded", findings=findings)
    return XmlNotWellFormedError("document is not well-formed XML", findings=findings)
