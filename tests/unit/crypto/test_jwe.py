"""Compact JWE decryption: interop with jwcrypto, streaming with bounded memory, one error for every
kind of tampering, and a bound on ``zip: DEF`` inflation."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwcrypto import jwe, jwk

from gateway.crypto.b64 import b64url_decode, b64url_encode
from gateway.crypto.jwe import (
    DecryptionError,
    decrypt_compact,
    decrypt_file,
    decrypt_stream,
    decryption_keys,
    encrypt_compact,
)
from gateway.crypto.jws import public_key_from_jwk
from gateway.crypto.keys import KeyPair, generate_key_pair

MB = 1024 * 1024
LIMIT = 16 * MB
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@pytest.fixture(scope="module")
def pair() -> KeyPair:
    return generate_key_pair("encryption", "unit-test")


@pytest.fixture(scope="module")
def other() -> KeyPair:
    return generate_key_pair("encryption", "someone-else")


def jwcrypto_token(public: dict[str, Any], plaintext: bytes, **header: Any) -> str:
    key = jwk.JWK(**{k: v for k, v in public.items() if k != "key_ops"})
    protected = {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": public["kid"],
        "cty": "application/json",
        **header,
    }
    return str(jwe.JWE(plaintext, recipient=key, protected=protected).serialize(compact=True))


def seal(public: dict[str, Any], payload: bytes, **header: Any) -> str:
    """A compact JWE of ``payload`` as given (already deflated if the header says zip)."""
    protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": public["kid"], **header}
    header_seg = b64url_encode(json.dumps(protected).encode())
    cek, iv = os.urandom(32), os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, payload, header_seg.encode())
    key = b64url_encode(public_key_from_jwk(public).encrypt(cek, OAEP))
    return ".".join(
        [header_seg, key, b64url_encode(iv), b64url_encode(sealed[:-16]), b64url_encode(sealed[-16:])]
    )


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize("zip_", [None, "DEF"])
def test_jwcrypto_tokens_decrypt(pair: KeyPair, zip_: str | None) -> None:
    plaintext = b'{"antrag": "' + b"x" * 5000 + b'"}'
    token = jwcrypto_token(pair.public_jwk, plaintext, **({"zip": zip_} if zip_ else {}))
    result = decrypt_compact(token, decryption_keys([pair]), max_inflated=LIMIT)
    assert result.plaintext == plaintext
    assert result.header["kid"] == pair.kid and result.header.get("zip") == zip_


@pytest.mark.parametrize("compress", [False, True])
def test_encrypt_compact_is_read_by_jwcrypto_and_by_us(pair: KeyPair, compress: bool) -> None:
    plaintext = "<antrag>Grüße</antrag>".encode()
    token = encrypt_compact(pair.public_jwk, plaintext, "application/xml", compress=compress)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header["alg"] == "RSA-OAEP-256" and header["enc"] == "A256GCM" and header["kid"] == pair.kid
    assert header["cty"] == "application/xml" and ("zip" in header) == compress
    assert decrypt_compact(token, decryption_keys([pair]), max_inflated=LIMIT).plaintext == plaintext
    pem = pair.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private = jwk.JWK.from_pem(pem)
    reader = jwe.JWE()
    reader.deserialize(token, key=private)
    assert reader.payload == plaintext


def test_a_retired_key_still_decrypts(pair: KeyPair, other: KeyPair) -> None:
    token = jwcrypto_token(pair.public_jwk, b"old")
    keys = decryption_keys([pair, other])
    assert decrypt_compact(token, keys, max_inflated=LIMIT).plaintext == b"old"


@pytest.mark.parametrize("chunk", [4, 7, 1000, 64 * 1024 + 3])
@pytest.mark.parametrize("compress", [False, True])
def test_streaming_gives_the_same_plaintext_at_any_chunk_size(
    pair: KeyPair, chunk: int, compress: bool
) -> None:
    plaintext = os.urandom(50_000) + b"a" * 300_000
    token = encrypt_compact(pair.public_jwk, plaintext, "application/pdf", compress=compress)
    out: list[bytes] = []
    decrypt_stream(
        io.BytesIO(token.encode()), decryption_keys([pair]), out.append, max_inflated=LIMIT, chunk_chars=chunk
    )
    assert b"".join(out) == plaintext


def test_streaming_a_large_attachment_keeps_memory_bounded(pair: KeyPair, tmp_path: Path) -> None:
    size = 48 * MB
    plaintext = os.urandom(size)
    expected = hashlib.sha512(plaintext).hexdigest()
    path = tmp_path / "attachment.jwe"
    path.write_text(encrypt_compact(pair.public_jwk, plaintext, "application/pdf"), encoding="ascii")
    del plaintext
    keys = decryption_keys([pair])
    hasher = hashlib.sha512()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        decrypt_file(path, keys, hasher.update, max_inflated=LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert hasher.hexdigest() == expected
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB for a {size // MB} MB attachment"
    print(f"streaming decrypt + SHA-512: {size / MB / elapsed:.0f} MB/s (traced, peak {peak / MB:.1f} MB)")


# --- tampering: one error type, one message --------------------------------------------------------


def _flip(segment: str, index: int | None = None) -> str:
    raw = bytearray(b64url_decode(segment))
    raw[len(raw) // 2 if index is None else index] ^= 0x01
    return b64url_encode(bytes(raw))


def _mutate(token: str, part: int, change: Callable[[str], str]) -> str:
    parts = token.split(".")
    parts[part] = change(parts[part])
    return ".".join(parts)


TAMPER: dict[str, Callable[[str, str, str], str]] = {
    "ciphertext bit": lambda t, o, w: _mutate(t, 3, _flip),
    "ciphertext first byte": lambda t, o, w: _mutate(t, 3, lambda s: _flip(s, 0)),
    "tag bit": lambda t, o, w: _mutate(t, 4, _flip),
    "tag truncated to 8 bytes": lambda t, o, w: _mutate(t, 4, lambda s: b64url_encode(b64url_decode(s)[:8])),
    "tag missing": lambda t, o, w: _mutate(t, 4, lambda s: ""),
    "iv bit": lambda t, o, w: _mutate(t, 2, _flip),
    "iv of 8 bytes": lambda t, o, w: _mutate(t, 2, lambda s: b64url_encode(b"\0" * 8)),
    "iv of 16 bytes": lambda t, o, w: _mutate(t, 2, lambda s: b64url_encode(b"\0" * 16)),
    "encrypted key bit": lambda t, o, w: _mutate(t, 1, _flip),
    "encrypted key short": lambda t, o, w: _mutate(t, 1, lambda s: b64url_encode(b64url_decode(s)[:-1])),
    "encrypted key empty": lambda t, o, w: _mutate(t, 1, lambda s: ""),
    "ciphertext swapped from another token": lambda t, o, w: _mutate(t, 3, lambda s: o.split(".")[3]),
    "wrong key, our kid": lambda t, o, w: w,
    "header changed (AAD)": lambda t, o, w: _mutate(
        t,
        0,
        lambda s: b64url_encode(json.dumps({**json.loads(b64url_decode(s)), "cty": "text/plain"}).encode()),
    ),
    "header alg not allowed": lambda t, o, w: _mutate(
        t,
        0,
        lambda s: b64url_encode(json.dumps({**json.loads(b64url_decode(s)), "alg": "RSA-OAEP"}).encode()),
    ),
    "unknown kid": lambda t, o, w: _mutate(
        t, 0, lambda s: b64url_encode(json.dumps({**json.loads(b64url_decode(s)), "kid": "nope"}).encode())
    ),
    "four segments": lambda t, o, w: ".".join(t.split(".")[:4]),
    "padding in ciphertext": lambda t, o, w: _mutate(t, 3, lambda s: s + "="),
    "six segments": lambda t, o, w: t.replace(".", "..", 1),
    "non-ascii": lambda t, o, w: t[:-2] + "ü",
    "empty": lambda t, o, w: "",
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_every_tampering_gives_the_same_error(pair: KeyPair, other: KeyPair, case: str) -> None:
    plaintext = b"<antrag>" + b"x" * 1000 + b"</antrag>"
    token = encrypt_compact(pair.public_jwk, plaintext, "application/xml")
    another = encrypt_compact(pair.public_jwk, plaintext, "application/xml")
    wrong = encrypt_compact({**other.public_jwk, "kid": pair.kid}, plaintext, "application/xml")
    bad = TAMPER[case](token, another, wrong)
    keys = decryption_keys([pair])
    with pytest.raises(DecryptionError) as in_memory:
        decrypt_compact(bad, keys, max_inflated=LIMIT)
    assert type(in_memory.value) is DecryptionError
    assert str(in_memory.value) == DecryptionError.MESSAGE and in_memory.value.slug == "encryption-issue"
    seen: list[bytes] = []
    with pytest.raises(DecryptionError) as streamed:
        decrypt_stream(io.BytesIO(bad.encode("utf-8")), keys, seen.append, max_inflated=LIMIT, chunk_chars=64)
    assert str(streamed.value) == str(in_memory.value)


def test_the_untampered_token_decrypts(pair: KeyPair) -> None:
    token = encrypt_compact(pair.public_jwk, b"ok", "application/xml")
    assert decrypt_compact(token, decryption_keys([pair]), max_inflated=LIMIT).plaintext == b"ok"


# --- zip: DEF -------------------------------------------------------------------------------------


def test_an_inflation_bomb_is_refused_quickly_with_bounded_memory(pair: KeyPair) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = b"\0" * MB
    bomb = b"".join(compressor.compress(zeros) for _ in range(512)) + compressor.flush()
    assert len(bomb) < MB  # 512 MB inflated
    token = seal(pair.public_jwk, bomb, zip="DEF")
    keys = decryption_keys([pair])
    total = 0

    def count(chunk: bytes) -> None:
        nonlocal total
        total += len(chunk)

    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DecryptionError) as caught:
            decrypt_stream(io.BytesIO(token.encode()), keys, count, max_inflated=8 * MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(caught.value) == DecryptionError.MESSAGE
    assert total <= 8 * MB and peak < 12 * MB
    assert time.perf_counter() - started < 5  # stops at the bound, never inflates 512 MB
    with pytest.raises(DecryptionError):
        decrypt_compact(token, keys, max_inflated=8 * MB)


def test_inflation_exactly_at_the_bound_is_allowed(pair: KeyPair) -> None:
    token = seal(pair.public_jwk, deflate(b"u" * MB), zip="DEF")
    assert len(decrypt_compact(token, decryption_keys([pair]), max_inflated=MB).plaintext) == MB
    with pytest.raises(DecryptionError):
        decrypt_compact(token, decryption_keys([pair]), max_inflated=MB - 1)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(deflate(b"x" * 10_000)[:-3], id="truncated stream"),
        pytest.param(deflate(b"x" * 10_000) + b"trailing", id="trailing garbage"),
        pytest.param(b"\xff\xff\xff not deflate", id="not deflate"),
    ],
)
def test_broken_deflate_is_the_same_error(pair: KeyPair, payload: bytes) -> None:
    token = seal(pair.public_jwk, payload, zip="DEF")
    with pytest.raises(DecryptionError) as caught:
        decrypt_compact(token, decryption_keys([pair]), max_inflated=LIMIT)
    assert str(caught.value) == DecryptionError.MESSAGE
