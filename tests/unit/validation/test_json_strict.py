"""Strict JSON (cases C1-C5)."""

from __future__ import annotations

import time

import pytest

from gateway.validation import (
    EncodingViolationError,
    JsonSyntaxError,
    NestingTooDeepError,
    parse_json_strict,
)
from gateway.validation.json_strict import MAX_INT_DIGITS


def test_ordinary_json_parses() -> None:
    value = parse_json_strict('{"a": [1, 2.5, "x", true, null, {"b": "ü\\"[{"}], "c": -0}'.encode())
    assert value == {"a": [1, 2.5, "x", True, None, {"b": 'ü"[{'}], "c": 0}


def test_brackets_inside_strings_do_not_count_towards_depth() -> None:
    text = '{"k": "' + "[" * 500 + '\\\\", "l": ["]]]]"]}'
    assert parse_json_strict(text.encode(), max_depth=3) == {"k": "[" * 500 + "\\", "l": ["]]]]"]}


@pytest.mark.parametrize("depth", [100_000, 65])
def test_c1_deep_nesting_is_rejected_without_recursion(depth: int) -> None:
    started = time.perf_counter()
    with pytest.raises(NestingTooDeepError) as caught:
        parse_json_strict(b"[" * depth + b"]" * depth)
    assert time.perf_counter() - started < 1.0
    assert caught.value.slug == "syntax-violation"


def test_depth_bound_is_inclusive() -> None:
    assert parse_json_strict(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(NestingTooDeepError):
        parse_json_strict(b'{"a":' * 3 + b"1" + b"}" * 3, max_depth=2)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"1" * (MAX_INT_DIGITS + 1), "json-number-too-large"),
        (b'{"n": -' + b"9" * 5000 + b"}", "json-number-too-large"),
        (b"1e999", "json-non-finite-number"),
        (b"[-1e999]", "json-non-finite-number"),
    ],
)
def test_c2_huge_numbers_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(JsonSyntaxError) as caught:
        parse_json_strict(data)
    assert caught.value.reason == reason


def test_c2_largest_allowed_integer_still_parses() -> None:
    assert parse_json_strict(b"9" * MAX_INT_DIGITS) == int("9" * MAX_INT_DIGITS)


@pytest.mark.parametrize(
    "data", [b'{"destinationId":"A","destinationId":"B"}', b'[{"a": 1, "b": {"x": 1, "x": 1}}]']
)
def test_c3_duplicate_keys_are_rejected(data: bytes) -> None:
    with pytest.raises(JsonSyntaxError) as caught:
        parse_json_strict(data)
    assert caught.value.reason == "json-duplicate-key"


@pytest.mark.parametrize("data", [b"NaN", b"[Infinity]", b'{"x": -Infinity}'])
def test_c4_non_standard_literals_are_rejected(data: bytes) -> None:
    with pytest.raises(JsonSyntaxError) as caught:
        parse_json_strict(data)
    assert caught.value.reason == "json-non-finite-number"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (b'{"name": "a\\u0000b"}', "$.name"),
        (b'{"name": ["ok", "\\ud800"]}', "$.name[1]"),
        (b'{"\\u0000": 1}', "$"),
        (b'"\\udfff"', "$"),
    ],
)
def test_c5_nul_and_lone_surrogates_are_rejected(data: bytes, path: str) -> None:
    with pytest.raises(JsonSyntaxError) as caught:
        parse_json_strict(data)
    assert caught.value.reason == "json-forbidden-character"
    assert caught.value.findings[0].path == path


def test_paired_surrogate_escape_is_a_normal_character() -> None:
    assert parse_json_strict(b'"\\ud83d\\ude00"') == "\U0001f600"


@pytest.mark.parametrize("data", [b"\xff{}", b'{"a": "\xc3"}', b'"\xed\xa0\x80"'])
def test_invalid_utf8_is_rejected(data: bytes) -> None:
    with pytest.raises(EncodingViolationError):
        parse_json_strict(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b'{"a": 1,}', b"[1 2]", b"\xef\xbb\xbf{}", b'{"a": "unterminated', b"{'a': 1}", b'"\x01"'],
)
def test_malformed_json_is_a_syntax_error(data: bytes) -> None:
    with pytest.raises(JsonSyntaxError) as caught:
        parse_json_strict(data)
    assert caught.value.slug == "syntax-violation"


def test_hostile_unterminated_strings_are_scanned_in_linear_time() -> None:
    data = b'["' + b'\\"' * 500_000
    started = time.perf_counter()
    with pytest.raises(JsonSyntaxError):
        parse_json_strict(data)
    assert time.perf_counter() - started < 2.0
