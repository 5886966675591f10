"""Strict JSON parsing for untrusted documents (metadata, tokens, callback bodies).

Rejects (cases C1-C5): invalid UTF-8, nesting deeper than a bound (checked by a linear,
non-recursive pre-scan before the parser runs), duplicate object keys, ``NaN`` /
``Infinity``, integers with more than :data:`MAX_INT_DIGITS` digits, numbers that overflow
to infinity, and NUL characters or lone surrogates in any string or key.
Every rejection is a :class:`~gateway.validation.errors.JsonSyntaxError` (or
:class:`~gateway.validation.errors.EncodingViolationError` /
:class:`~gateway.validation.errors.NestingTooDeepError`), all ``syntax-violation``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeAlias, cast

from gateway.validation.errors import (
    EncodingViolationError,
    Finding,
    JsonSyntaxError,
    NestingTooDeepError,
)

__all__ = ["DEFAULT_MAX_DEPTH", "MAX_INT_DIGITS", "JsonValue", "parse_json_strict"]

JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"

DEFAULT_MAX_DEPTH = 64
MAX_INT_DIGITS = 4300
"""CPython's default ``int`` string-conversion limit (CVE-2020-10735)."""

_INTERESTING = re.compile(r'["\[\]{}]')
_STRING_REST = re.compile(r'(?:[^"\\]++|\\.)*+"', re.DOTALL)
_FORBIDDEN_CHAR = re.compile("[\x00\ud800-\udfff]")


def parse_json_strict(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> JsonValue:
    """Parse ``data`` as one JSON value under the rules above."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingViolationError(
            f"JSON is not valid UTF-8 (byte {exc.start})", reason="encoding-not-utf8"
        ) from None
    _check_depth(text, max_depth)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
        )
    except JsonSyntaxError:
        raise
    except json.JSONDecodeError as exc:
        raise JsonSyntaxError(
            "document is not valid JSON",
            findings=[Finding(line=None, path=f"char {exc.pos}", message=exc.msg)],
        ) from None
    except (ValueError, RecursionError) as exc:  # pragma: no cover - guarded above
        raise JsonSyntaxError(f"document is not valid JSON: {type(exc).__name__}") from None
    _check_strings(value)
    return cast(JsonValue, value)


def _check_depth(text: str, max_depth: int) -> None:
    """Bracket depth outside strings, without recursion; stops at the first excess."""
    depth = 0
    pos = 0
    find = _INTERESTING.search
    while (match := find(text, pos)) is not None:
        char = match.group()
        if char == '"':
            rest = _STRING_REST.match(text, match.end())
            if rest is None:
                return  # unterminated string: the parser reports it
            pos = rest.end()
            continue
        pos = match.end()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise NestingTooDeepError(
                    f"JSON is nested deeper than {max_depth}",
                    findings=[Finding(line=None, path=f"char {match.start()}", message="too deep")],
                )
        else:
            depth -= 1


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonSyntaxError(f"duplicate key {key[:80]!r} in a JSON object", reason="json-duplicate-key")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise JsonSyntaxError(f"{name} is not a JSON number", reason="json-non-finite-number")


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonSyntaxError(
            f"integer with more than {MAX_INT_DIGITS} digits", reason="json-number-too-large"
        )
    return int(literal)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JsonSyntaxError(f"number {literal[:40]} is out of range", reason="json-non-finite-number")
    return value


def _check_strings(value: object) -> None:
    """Reject NUL and lone surrogates in any key or string (iterative walk)."""
    stack: list[tuple[object, str]] = [(value, "$")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path)
                stack.append((child, f"{path}.{key[:80]}"))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))


def _check_text(text: str, path: str) -> None:
    match = _FORBIDDEN_CHAR.search(text)
    if match is not None:
        what = "NUL character" if match.group() == "\x00" else "lone surrogate"
        raise JsonSyntaxError(
            f"{what} in a JSON string",
            findings=[Finding(line=None, path=path, message=what)],
            reason="json-forbidden-character",
        )
