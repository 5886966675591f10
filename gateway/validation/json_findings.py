"""JSON Schema errors as findings: each at its JSON pointer (RFC 6901), at most
:data:`~gateway.validation.xsd_findings.MAX_FINDINGS` of them; shared by metadata and JSON data."""

from __future__ import annotations

from itertools import islice
from typing import Any

from jsonschema import Draft202012Validator

from gateway.validation.errors import Finding, SchemaViolationError
from gateway.validation.xsd_findings import MAX_FINDINGS

__all__ = ["json_pointer", "raise_for_errors"]

_MESSAGE_LIMIT = 300
_MAX_ERRORS = 1000  # stop collecting after this many; ``total`` then says "at least"


def json_pointer(path: Any) -> str:
    """The RFC 6901 pointer of a path of keys and indexes (``""`` is the document itself)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def raise_for_errors(validator: Draft202012Validator, document: object, what: str) -> None:
    """Raise :class:`SchemaViolationError` if ``document`` has errors; ``what`` names the schema."""
    errors = sorted(
        islice(validator.iter_errors(document), _MAX_ERRORS),
        key=lambda error: [str(part) for part in error.absolute_path],
    )
    if errors:
        raise SchemaViolationError(
            f"{len(errors)} schema violation(s) against {what}",
            findings=[_finding(error) for error in errors[:MAX_FINDINGS]],
            total=len(errors),
        )


def _finding(error: Any) -> Finding:
    message = str(error.message)
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return Finding(line=None, path=json_pointer(error.absolute_path), message=message)
