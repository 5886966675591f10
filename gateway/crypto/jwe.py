"""Compact JWE decryption as FIT-Connect uses it: RSA-OAEP-256 key transport, A256GCM content.

* The protected header is re-checked with :func:`gateway.crypto.compact.check_header` (the same
  allow-list as intake) against the kids of the keys offered for decryption.
* The 256-bit content key is unwrapped with RSAES-OAEP (SHA-256, MGF1-SHA-256); the content is
  AES-256-GCM with a 96-bit IV, a 128-bit tag and AAD = the ASCII of the protected-header segment.
* ``zip: DEF`` is raw DEFLATE, inflated incrementally with a hard bound on the inflated size.

Two forms share one implementation: :func:`decrypt_stream` reads the ciphertext segment of a
(seekable) file in chunks and feeds the plaintext to a consumer (a SHA-512 hasher, say), so an
attachment is never whole in memory; :func:`decrypt_compact` collects the plaintext of a small
token (metadata, data). Streamed plaintext is only trustworthy once the call returned: the GCM
tag is verified at the end. :func:`open_stream` also hands back the unwrapped content key, and
:func:`decrypt_stream_with_key` decrypts with such a key instead of the RSA private key (the
deliver stage, with the key the validate stage re-wrapped: :mod:`gateway.crypto.keywrap`).
The base64url segments are decoded with ``pybase64`` (SIMD; about 20x the standard library on
large chunks), just as strictly: no padding, no ``+``/``/``, nothing outside the alphabet.

Every failure (malformed token, header not allowed, unknown kid, wrong key, tampered encrypted
key, IV, ciphertext or tag, inflation bound) raises :class:`DecryptionError` with one fixed
message, so nothing distinguishes the causes (no padding or unwrap oracle). A failed unwrap
continues with a random key (RFC 7516 §11.5) so it costs the same as a failed tag check.
"""

from __future__ import annotations

import binascii
import io
import json
import os
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pybase64
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.crypto.b64 import b64url_encode
from gateway.crypto.compact import MAX_HEADER_CHARS, JweFormatError, check_header
from gateway.crypto.jws import public_key_from_jwk
from gateway.crypto.keys import KeyPair
from gateway.errors import PermanentError

__all__ = [
    "CHUNK_CHARS",
    "DecryptionError",
    "DecryptionKeys",
    "Decrypted",
    "Opened",
    "decrypt_compact",
    "decrypt_file",
    "decrypt_file_with_key",
    "decrypt_stream",
    "decrypt_stream_with_key",
    "decryption_keys",
    "encrypt_compact",
    "open_stream",
]

DecryptionKeys = Mapping[str, rsa.RSAPrivateKey]
"""Private encryption keys by kid (all keys of a destination, current and retired)."""

CHUNK_CHARS = 1024 * 1024  # base64url characters read per step (a multiple of 4)
_INFLATE_STEP = 256 * 1024  # plaintext bytes produced per inflate call
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_CEK_BYTES, _IV_BYTES, _TAG_BYTES = 32, 12, 16
_HEAD_BYTES = MAX_HEADER_CHARS + 4096  # header + encrypted key (RSA-8192 at most) + IV + dots
_TAIL_BYTES = 64


class DecryptionError(PermanentError):
    """The JWE cannot be decrypted with the offered keys. One message for every cause."""

    slug = "encryption-issue"
    MESSAGE = "the JWE cannot be decrypted with the destination's keys"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


@dataclass(frozen=True)
class Decrypted:
    """A verified plaintext and the protected header it came with."""

    header: dict[str, Any]
    plaintext: bytes


@dataclass(frozen=True)
class Opened:
    """A JWE whose tag verified: its protected header and the content key that opened it.

    ``content_key`` is the bare CEK: keep it in memory only (re-wrap it before it goes anywhere).
    """

    header: dict[str, Any]
    content_key: bytes = field(repr=False)


def decryption_keys(pairs: Iterable[KeyPair]) -> dict[str, rsa.RSAPrivateKey]:
    """The encryption keys among ``pairs`` (e.g. ``KeyStore.keys(destination_id)``), by kid."""
    return {pair.kid: pair.private_key for pair in pairs if pair.purpose == "encryption"}


class _Inflater:
    """Raw DEFLATE, inflated in bounded steps; refuses more than ``limit`` bytes of output."""

    def __init__(self, sink: Callable[[bytes], None], limit: int) -> None:
        self._sink = sink
        self._limit = limit
        self._total = 0
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)

    def __call__(self, data: bytes) -> None:
        try:
            while True:
                out = self._inflate.decompress(data, _INFLATE_STEP)
                self._emit(out)
                data = self._inflate.unconsumed_tail
                if not data and len(out) < _INFLATE_STEP:
                    return
        except zlib.error:
            raise DecryptionError() from None

    def _emit(self, out: bytes) -> None:
        self._total += len(out)
        if self._total > self._limit:
            raise DecryptionError()
        if out:
            self._sink(out)

    def finish(self) -> None:
        try:
            self._emit(self._inflate.flush())
        except zlib.error:
            raise DecryptionError() from None
        if not self._inflate.eof or self._inflate.unused_data:
            raise DecryptionError()


def _decode(segment: bytes | memoryview) -> bytes:
    """Strict unpadded base64url (pybase64: SIMD, validating). ``segment`` must already be known
    to hold no ``+``, ``/`` or ``=`` (:func:`_check_alphabet`); anything else outside the
    alphabet, and a length of 1 mod 4, fail here."""
    pad = -len(segment) % 4
    if pad == 3:
        raise DecryptionError()
    try:
        if pad:
            return pybase64.b64decode(bytes(segment) + b"=" * pad, altchars=b"-_", validate=True)
        return pybase64.b64decode(segment, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError() from None


def _check_alphabet(chunk: bytes) -> None:
    """Refuse the characters pybase64 would take for base64url with ``altchars`` (the standard
    alphabet's ``+``/``/``) and padding; ``in`` on bytes is a memchr, far faster than decoding."""
    if b"+" in chunk or b"/" in chunk or b"=" in chunk:
        raise DecryptionError()


def _decode_segment(segment: bytes) -> bytes:
    _check_alphabet(segment)
    return _decode(segment)


def _content_key(key: rsa.RSAPrivateKey, encrypted_key: bytes) -> tuple[bytes, bool]:
    """The unwrapped CEK, or a random one (and ``False``) so that a failure costs the same."""
    try:
        cek = key.decrypt(encrypted_key, _OAEP)
    except ValueError:
        return os.urandom(_CEK_BYTES), False
    if len(cek) != _CEK_BYTES:
        return os.urandom(_CEK_BYTES), False
    return cek, True


def _locate(source: BinaryIO) -> tuple[bytes, bytes, bytes, int, int, bytes]:
    """Header, encrypted key and IV segments, the ciphertext span and the tag segment."""
    source.seek(0, io.SEEK_END)
    size = source.tell()
    source.seek(0)
    head = source.read(min(size, _HEAD_BYTES))
    first = head.find(b".")
    second = head.find(b".", first + 1) if first >= 0 else -1
    third = head.find(b".", second + 1) if second >= 0 else -1
    if third < 0:
        raise DecryptionError()
    source.seek(max(size - _TAIL_BYTES, 0))
    tail = source.read()
    last = tail.rfind(b".")
    if last < 0:
        raise DecryptionError()
    last += size - len(tail)
    if last <= third:
        raise DecryptionError()
    source.seek(last + 1)
    tag = source.read()
    return head[:first], head[first + 1 : second], head[second + 1 : third], third + 1, last, tag


@dataclass(frozen=True)
class _Located:
    header_seg: bytes
    header: dict[str, Any]
    encrypted_key: bytes
    iv: bytes
    tag: bytes
    start: int
    end: int


def _checked(source: BinaryIO, kids: Collection[str] | None) -> _Located:
    """The segments around the ciphertext, the header allow-listed (``kids=None``: any kid)."""
    header_seg, key_seg, iv_seg, start, end, tag_seg = _locate(source)
    try:
        header = check_header(header_seg, kids)
    except JweFormatError:
        raise DecryptionError() from None
    encrypted_key, iv, tag = _decode_segment(key_seg), _decode_segment(iv_seg), _decode_segment(tag_seg)
    if len(iv) != _IV_BYTES or len(tag) != _TAG_BYTES:
        raise DecryptionError()
    return _Located(header_seg, header, encrypted_key, iv, tag, start, end)


def _decrypt_body(
    source: BinaryIO,
    located: _Located,
    cek: bytes,
    consume: Callable[[bytes], None],
    max_inflated: int,
    chunk_chars: int,
) -> None:
    """Stream the ciphertext through AES-256-GCM (and the inflater) into ``consume``; returns once
    the tag verified and the inflated stream ended properly."""
    decryptor = Cipher(algorithms.AES(cek), modes.GCM(located.iv, located.tag)).decryptor()
    decryptor.authenticate_additional_data(located.header_seg)
    inflater = _Inflater(consume, max_inflated) if located.header.get("zip") == "DEF" else None
    sink = inflater or consume
    step = max(4, chunk_chars - chunk_chars % 4)
    source.seek(located.start)
    remaining = located.end - located.start
    carry = b""
    while remaining:
        chunk = source.read(min(step, remaining))
        if not chunk:
            raise DecryptionError()
        _check_alphabet(chunk)
        remaining -= len(chunk)
        data = carry + chunk if carry else chunk
        cut = len(data) if not remaining else len(data) - len(data) % 4
        carry = data[cut:]
        plain = decryptor.update(_decode(memoryview(data)[:cut] if cut != len(data) else data))
        if plain:
            sink(plain)
    try:
        decryptor.finalize()
    except InvalidTag:
        raise DecryptionError() from None
    if inflater is not None:
        inflater.finish()


def open_stream(
    source: BinaryIO,
    keys: DecryptionKeys,
    consume: Callable[[bytes], None],
    *,
    max_inflated: int,
    chunk_chars: int = CHUNK_CHARS,
) -> Opened:
    """:func:`decrypt_stream`, also returning the unwrapped content key (for re-wrapping)."""
    located = _checked(source, keys.keys())
    cek, unwrapped = _content_key(keys[located.header["kid"]], located.encrypted_key)
    _decrypt_body(source, located, cek, consume, max_inflated, chunk_chars)
    if not unwrapped:  # a random key that happened to verify: still a failure
        raise DecryptionError()
    return Opened(located.header, cek)


def decrypt_stream(
    source: BinaryIO,
    keys: DecryptionKeys,
    consume: Callable[[bytes], None],
    *,
    max_inflated: int,
    chunk_chars: int = CHUNK_CHARS,
) -> dict[str, Any]:
    """Decrypt the compact JWE in ``source``, passing plaintext chunks to ``consume``.

    Returns the protected header once the tag verified; raises :class:`DecryptionError`
    otherwise (``consume`` may then have seen unauthenticated plaintext: discard its state).
    Memory stays at about ``chunk_chars`` bytes whatever the size of the JWE.
    """
    return open_stream(source, keys, consume, max_inflated=max_inflated, chunk_chars=chunk_chars).header


def decrypt_stream_with_key(
    source: BinaryIO,
    content_key: bytes,
    consume: Callable[[bytes], None],
    *,
    max_inflated: int,
    chunk_chars: int = CHUNK_CHARS,
) -> dict[str, Any]:
    """:func:`decrypt_stream` with the content key already known (no RSA): the same header
    allow-list (any kid), AES-256-GCM with the protected header as AAD, the tag checked, the
    same inflation bound. Raises :class:`DecryptionError` (a wrong key fails the tag)."""
    if len(content_key) != _CEK_BYTES:
        raise DecryptionError()
    located = _checked(source, None)
    _decrypt_body(source, located, content_key, consume, max_inflated, chunk_chars)
    return located.header


def decrypt_file(
    path: Path, keys: DecryptionKeys, consume: Callable[[bytes], None], *, max_inflated: int
) -> dict[str, Any]:
    """:func:`decrypt_stream` over a file (a blob of the blob store). ``OSError`` propagates."""
    with path.open("rb") as source:
        return decrypt_stream(source, keys, consume, max_inflated=max_inflated)


def decrypt_file_with_key(
    path: Path, content_key: bytes, consume: Callable[[bytes], None], *, max_inflated: int
) -> dict[str, Any]:
    """:func:`decrypt_stream_with_key` over a file. ``OSError`` propagates."""
    with path.open("rb") as source:
        return decrypt_stream_with_key(source, content_key, consume, max_inflated=max_inflated)


def decrypt_compact(token: str | bytes, keys: DecryptionKeys, *, max_inflated: int) -> Decrypted:
    """Decrypt a compact JWE held in memory; raises :class:`DecryptionError`."""
    if isinstance(token, str):
        try:
            token = token.encode("ascii")
        except UnicodeEncodeError:
            raise DecryptionError() from None
    parts: list[bytes] = []
    header = decrypt_stream(io.BytesIO(token), keys, parts.append, max_inflated=max_inflated)
    return Decrypted(header, b"".join(parts))


def encrypt_compact(
    public_jwk: Mapping[str, Any], plaintext: bytes, cty: str, *, compress: bool = False
) -> str:
    """A compact JWE as a FIT-Connect sender builds it (header ``alg``, ``enc``, ``kid``, ``cty``).

    For tests and the demo; ``compress`` adds ``zip: DEF`` as some SDKs do.
    """
    header: dict[str, str] = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": public_jwk["kid"], "cty": cty}
    if compress:
        header["zip"] = "DEF"
        deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        plaintext = deflate.compress(plaintext) + deflate.flush()
    header_seg = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    cek, iv = AESGCM.generate_key(256), os.urandom(_IV_BYTES)
    encrypted_key = public_key_from_jwk(dict(public_jwk)).encrypt(cek, _OAEP)
    sealed = AESGCM(cek).encrypt(iv, plaintext, header_seg.encode("ascii"))
    ciphertext, tag = sealed[:-_TAG_BYTES], sealed[-_TAG_BYTES:]
    return ".".join(
        [
            header_seg,
            b64url_encode(encrypted_key),
            b64url_encode(iv),
            b64url_encode(ciphertext),
            b64url_encode(tag),
        ]
    )
