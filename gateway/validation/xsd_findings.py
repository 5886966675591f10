"""Turn libxml2 schema-validation errors into :class:`Finding` objects.

libxml2 reports a node path such as ``/*/cbc:DueDate`` (``*`` for elements in the default
namespace). We walk that path in the document and print it with the element names the
sender used, e.g. ``/Invoice/cbc:DueDate`` or ``/xwas:vorgang[2]``, and replace the
``{namespace}`` prefixes in messages with the document's own prefixes. Everything here runs
only on the error path and looks at no more than ``limit`` errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree

from gateway.validation.errors import Finding

__all__ = ["MAX_FINDINGS", "findings_from_log"]

MAX_FINDINGS = 20
_MESSAGE_LIMIT = 400
_PATH_LIMIT = 400
_STEP = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<index>\d+)\])?$")
_CLARK = re.compile(r"\{([^{}]*)\}")


def findings_from_log(
    entries: Iterable[etree._LogEntry], root: etree._Element, *, limit: int = MAX_FINDINGS
) -> tuple[list[Finding], int]:
    """The first ``limit`` errors as findings, and the total number of errors."""
    prefixes = {uri: prefix for prefix, uri in root.nsmap.items()}
    findings: list[Finding] = []
    total = 0
    for entry in entries:
        if entry.level < etree.ErrorLevels.ERROR:
            continue
        total += 1
        if len(findings) >= limit:
            continue
        element = _resolve(root, entry.path or "")
        if element is None:
            path, line = entry.path or "", entry.line or None
        else:
            path, line = _render(element, entry.path or ""), element.sourceline or entry.line or None
        findings.append(Finding(line=line, path=_clip(path), message=_message(entry.message, prefixes)))
    return findings, total


def _resolve(root: etree._Element, raw: str) -> etree._Element | None:
    """Follow a libxml2 node path to its element (attribute steps stop at the owner)."""
    steps = [step for step in raw.split("/") if step]
    if not steps or not _matches(root, _STEP.match(steps[0])):
        return None
    element = root
    for step in steps[1:]:
        if step.startswith("@") or step.endswith("()"):
            break
        match = _STEP.match(step)
        if match is None:
            return None
        index = int(match.group("index") or 1)
        found = None
        for child in element.iterchildren(tag=etree.Element):
            if _matches(child, match):
                index -= 1
                if index == 0:
                    found = child
                    break
        if found is None:
            return None
        element = found
    return element


def _matches(element: etree._Element, step: re.Match[str] | None) -> bool:
    if step is None:
        return False
    name = step.group("name")
    if name == "*":
        return True
    prefix, _, local = name.rpartition(":")
    return bool(etree.QName(element).localname == local and (element.prefix or "") == prefix)


def _render(element: etree._Element, raw: str) -> str:
    """``/prefix:name[n]/...`` from the root to ``element``, plus a trailing attribute step."""
    parts: list[str] = []
    current: etree._Element | None = element
    while current is not None:
        local = etree.QName(current).localname
        name = f"{current.prefix}:{local}" if current.prefix else local
        tag = current.tag
        preceding = sum(1 for _ in current.itersiblings(tag, preceding=True))
        following = next(current.itersiblings(tag), None) is not None
        parts.append(f"{name}[{preceding + 1}]" if preceding or following else name)
        current = current.getparent()
    path = "/" + "/".join(reversed(parts))
    last = raw.rsplit("/", 1)[-1]
    return f"{path}/{last}" if last.startswith("@") else path


def _message(message: str, prefixes: dict[str | None, str | None]) -> str:
    """Shorten ``{uri}name`` to ``prefix:name`` (or ``name`` in the default namespace)."""

    def shorten(match: re.Match[str]) -> str:
        uri = match.group(1)
        if uri not in prefixes:
            return match.group(0)
        prefix = prefixes[uri]
        return f"{prefix}:" if prefix else ""

    text = _CLARK.sub(shorten, message.strip())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _clip(path: str) -> str:
    """Keep the most specific end of very long paths (names may be up to 50 000 chars)."""
    return path if len(path) <= _PATH_LIMIT else "…" + path[-(_PATH_LIMIT - 1) :]
