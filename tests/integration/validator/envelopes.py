"""Hostile JWE envelopes for cases B1-B16 (SECURITY-CASES.md): builders and the case tables
used by ``tests/security/test_jwe_cases.py``."""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from typing import Any

from gateway.crypto.b64 import b64url_decode, b64url_encode
from tests.helpers import encrypt
from tests.integration.validator.support import XBAU_SAMPLE

MB = 1024 * 1024


def raw_token(header: dict[str, Any] | bytes, kid: str | None = None) -> str:
    """Five well-formed segments around an arbitrary protected header (never decryptable)."""
    if isinstance(header, dict):
        header = json.dumps({**({"kid": kid} if kid else {}), **header}).encode()
    segments = [header, os.urandom(512), os.urandom(12), os.urandom(64), os.urandom(16)]
    return ".".join(b64url_encode(s) for s in segments)


def _header(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[0])))


GOOD = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}

# case -> (token builder from the valid token and the kid, expected intake slug)
INTAKE: dict[str, tuple[Callable[[str, str], str], str]] = {
    "B1 alg none": (lambda t, k: raw_token({"alg": "none", "enc": "A256GCM"}, k), "jwe-header-not-allowed"),
    **{
        f"B2 alg {alg}": (
            (lambda a: lambda t, k: raw_token({**GOOD, "alg": a}, k))(alg),
            "jwe-header-not-allowed",
        )
        for alg in (
            "RSA1_5",
            "RSA-OAEP",
            "dir",
            "A256KW",
            "A256GCMKW",
            "ECDH-ES+A256KW",
            "PBES2-HS512+A256KW",
        )
    },
    **{
        f"B3 enc {enc}": (
            (lambda e: lambda t, k: raw_token({**GOOD, "enc": e}, k))(enc),
            "jwe-header-not-allowed",
        )
        for enc in ("A128CBC-HS256", "A256CBC-HS512", "A128GCM")
    },
    "B4 PBES2 p2c": (
        lambda t, k: raw_token(
            {"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": 2147483647, "p2s": "AAAA"}, k
        ),
        "jwe-header-not-allowed",
    ),
    "B6 random kid": (lambda t, k: raw_token(GOOD, "c29tZS1vdGhlci1rZXk"), "jwe-unknown-key"),
    "B6 path kid": (lambda t, k: raw_token(GOOD, "../../keys/admin"), "jwe-unknown-key"),
    "B6 10 KB kid": (lambda t, k: raw_token(GOOD, "k" * 10_000), "jwe-malformed"),
    "B6 no kid": (lambda t, k: raw_token(GOOD), "jwe-unknown-key"),
    "B7 dir with our kid": (
        lambda t, k: raw_token({"alg": "dir", "enc": "A256GCM"}, k),
        "jwe-header-not-allowed",
    ),
    "B8 jwk": (
        lambda t, k: raw_token({**GOOD, "jwk": {"kty": "oct", "k": "AAAA"}}, k),
        "jwe-header-not-allowed",
    ),
    "B8 jku": (
        lambda t, k: raw_token({**GOOD, "jku": "http://127.0.0.1:9/jwks"}, k),
        "jwe-header-not-allowed",
    ),
    "B8 x5u": (
        lambda t, k: raw_token({**GOOD, "x5u": "http://127.0.0.1:9/x5u"}, k),
        "jwe-header-not-allowed",
    ),
    "B8 x5c": (lambda t, k: raw_token({**GOOD, "x5c": ["AAAA"]}, k), "jwe-header-not-allowed"),
    "B9 crit exp": (lambda t, k: raw_token({**GOOD, "crit": ["exp"], "exp": 1}, k), "jwe-header-not-allowed"),
    "B9 crit unknown": (lambda t, k: raw_token({**GOOD, "crit": ["unknown"]}, k), "jwe-header-not-allowed"),
    "B5 zip other than DEF": (lambda t, k: raw_token({**GOOD, "zip": "GZIP"}, k), "jwe-header-not-allowed"),
    "B10 tag truncated to 8 bytes": (
        lambda t, k: ".".join([*t.split(".")[:4], b64url_encode(b64url_decode(t.split(".")[4])[:8])]),
        "jwe-malformed",
    ),
    "B10 IV of 8 bytes": (lambda t, k: _segment(t, 2, b64url_encode(b"\0" * 8)), "jwe-malformed"),
    "B10 IV of 16 bytes": (lambda t, k: _segment(t, 2, b64url_encode(b"\0" * 16)), "jwe-malformed"),
    "B11 four segments": (lambda t, k: ".".join(t.split(".")[:4]), "jwe-malformed"),
    "B11 six segments": (lambda t, k: t + ".AAAA", "jwe-malformed"),
    "B11 JSON serialization": (
        lambda t, k: json.dumps({"protected": t.split(".")[0], "header": {}}),
        "jwe-malformed",
    ),
    "B11 padding": (lambda t, k: t + "==", "jwe-malformed"),
    "B11 standard alphabet": (lambda t, k: _segment(t, 3, t.split(".")[3][:-2] + "+/"), "jwe-malformed"),
    "B11 newline": (lambda t, k: t[:40] + "\n" + t[40:], "jwe-malformed"),
    "B11 space": (lambda t, k: t[:40] + " " + t[40:], "jwe-malformed"),
    "B11 empty segment": (lambda t, k: _segment(t, 2, ""), "jwe-malformed"),
    "B11 BOM": (lambda t, k: "\ufeff" + t, "jwe-malformed"),
    "B12 header over 4 KiB": (lambda t, k: raw_token({**GOOD, "cty": "x" * 5000}, k), "jwe-malformed"),
    "B12 header is a list": (lambda t, k: raw_token(b"[]"), "jwe-header-invalid"),
    "B12 header is a string": (lambda t, k: raw_token(b'"x"'), "jwe-header-invalid"),
    "B12 duplicate alg": (
        lambda t, k: raw_token(f'{{"alg":"RSA-OAEP-256","alg":"dir","enc":"A256GCM","kid":"{k}"}}'.encode()),
        "jwe-header-invalid",
    ),
    "B12 not JSON": (lambda t, k: raw_token(b"{alg: RSA-OAEP-256"), "jwe-header-invalid"),
}


def _segment(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = b"u" * MB
    return b"".join(compressor.compress(chunk) for _ in range(size // MB)) + compressor.flush()


def _flip(token: str, index: int) -> str:
    parts = token.split(".")
    raw = bytearray(b64url_decode(parts[index]))
    raw[len(raw) // 2] ^= 0x01
    parts[index] = b64url_encode(bytes(raw))
    return ".".join(parts)


TAMPERED: dict[str, Callable[[str, str, dict[str, Any]], str]] = {
    "ciphertext bit": lambda t, other, k: _flip(t, 3),
    "tag bit": lambda t, other, k: _flip(t, 4),
    "IV bit": lambda t, other, k: _flip(t, 2),
    "encrypted key bit": lambda t, other, k: _flip(t, 1),
    "encrypted key too short": lambda t, other, k: _segment(
        t, 1, b64url_encode(b64url_decode(t.split(".")[1])[:-8])
    ),
    "ciphertext swapped from another JWE": lambda t, other, k: _segment(t, 3, other.split(".")[3]),
    "header changed (AAD)": lambda t, other, k: _segment(
        t, 0, b64url_encode(json.dumps({**_header(t), "cty": "text/xml"}).encode())
    ),
    "wrong key": lambda t, other, k: encrypt({**k["other"], "kid": k["kid"]}, XBAU_SAMPLE),
}
