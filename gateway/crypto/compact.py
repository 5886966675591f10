"""Cheap checks of a compact JWE without decrypting it: shape, protected header allow-list, tag.

Intake stores ciphertext exactly as received but first proves it is a compact JWE (five base64url
segments) whose protected header is one the gateway will ever decrypt:

* ``alg`` = ``RSA-OAEP-256``, ``enc`` = ``A256GCM``, ``kid`` = an encryption key of the destination;
* ``cty`` free text, ``zip`` only ``DEF`` (real FIT-Connect clients send it; inflation is bounded
  at decryption), ``typ`` only ``JWE`` (sent by fitconnect-client);
* nothing else: no ``jku``/``jwk``/``x5u``/``x5c`` (keys never come from the message), no ``crit``,
  no ``p2c``/``epk`` (other algorithms' parameters).

``CompactScanner`` does this over a stream in chunks, so a 500 MB attachment is never held whole.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from gateway.crypto.b64 import b64url_decode
from gateway.errors import PermanentError

_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAX_HEADER_CHARS = 4096
_ALLOWED = {"alg", "enc", "kid", "cty", "zip", "typ"}
_KEEP = {0: MAX_HEADER_CHARS, 2: 32, 4: 64}  # header, IV, tag: the segments worth keeping


class JweFormatError(PermanentError):
    """Not a compact JWE, or its protected header is not allow-listed.

    ``reason`` is stable (``jwe-malformed``, ``jwe-header-invalid``, ``jwe-header-not-allowed``,
    ``jwe-unknown-key``) and is also the ``slug``.
    """

    slug = "jwe-malformed"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, slug=reason)
        self.reason = reason


@dataclass(frozen=True)
class CompactJwe:
    """What intake learns from a compact JWE without decrypting it."""

    header: dict[str, Any]
    kid: str
    tag: str


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JweFormatError("jwe-header-invalid", f"duplicate header member {key!r}")
        out[key] = value
    return out


def check_header(segment: bytes, kids: Collection[str] | None) -> dict[str, Any]:
    """Decode and allow-list a protected header; ``kids`` are the acceptable key ids (``None``:
    any string, for a JWE opened with a content key already known)."""
    if len(segment) > MAX_HEADER_CHARS:
        raise JweFormatError("jwe-header-invalid", "protected header too large")
    try:
        header = json.loads(b64url_decode(segment).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:  # a duplicate member's JweFormatError passes through
        raise JweFormatError("jwe-header-invalid", "protected header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise JweFormatError("jwe-header-invalid", "protected header is not a JSON object")
    extra = set(header) - _ALLOWED
    if extra:
        raise JweFormatError("jwe-header-not-allowed", f"header parameters not allowed: {sorted(extra)}")
    if header.get("alg") != "RSA-OAEP-256" or header.get("enc") != "A256GCM":
        raise JweFormatError("jwe-header-not-allowed", "only alg RSA-OAEP-256 with enc A256GCM is accepted")
    if header.get("zip", "DEF") != "DEF" or header.get("typ", "JWE") != "JWE":
        raise JweFormatError("jwe-header-not-allowed", "zip must be DEF or absent, typ JWE or absent")
    if not isinstance(header.get("cty", ""), str):
        raise JweFormatError("jwe-header-invalid", "cty must be a string")
    kid = header.get("kid")
    if not isinstance(kid, str) or (kids is not None and kid not in kids):
        raise JweFormatError("jwe-unknown-key", "kid is not an encryption key of this destination")
    return header


class CompactScanner:
    """Checks a compact JWE fed in chunks; ``finish()`` returns its header, kid and tag."""

    def __init__(self, kids: Collection[str]) -> None:
        self._kids = kids
        self._segment = 0
        self._kept: dict[int, bytearray] = {i: bytearray() for i in _KEEP}
        self._lengths = [0] * 5

    def feed(self, chunk: bytes) -> None:
        rest = chunk.translate(None, _B64URL)
        if rest.strip(b"."):
            raise JweFormatError("jwe-malformed", "not a compact JWE: characters outside base64url")
        pieces = chunk.split(b".") if rest else [chunk]
        for i, piece in enumerate(pieces):
            if i:
                self._segment += 1
                if self._segment > 4:
                    raise JweFormatError("jwe-malformed", "not a compact JWE: more than five segments")
            self._lengths[self._segment] += len(piece)
            kept = self._kept.get(self._segment)
            if kept is not None:
                if len(kept) + len(piece) > _KEEP[self._segment]:
                    raise JweFormatError("jwe-malformed", f"JWE segment {self._segment + 1} is too long")
                kept += piece

    def finish(self) -> CompactJwe:
        if self._segment != 4 or not all(self._lengths):
            raise JweFormatError("jwe-malformed", "not a compact JWE: five non-empty segments expected")
        header = check_header(bytes(self._kept[0]), self._kids)
        try:
            iv, tag = b64url_decode(bytes(self._kept[2])), b64url_decode(bytes(self._kept[4]))
        except ValueError as exc:
            raise JweFormatError("jwe-malformed", "IV or tag is not base64url") from exc
        if len(iv) != 12 or len(tag) != 16:
            raise JweFormatError("jwe-malformed", "A256GCM needs a 96-bit IV and a 128-bit tag")
        return CompactJwe(header, header["kid"], self._kept[4].decode("ascii"))


def scan(token: str, kids: Collection[str]) -> CompactJwe:
    """Check a whole compact JWE held in memory (metadata and data)."""
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError as exc:
        raise JweFormatError("jwe-malformed", "not a compact JWE: non-ASCII characters") from exc
    scanner = CompactScanner(kids)
    scanner.feed(raw)
    return scanner.finish()
