"""Local re-wrapping of content keys: a wrapped key opens only its own part, the wrap keys are
0600 files in the key directory looked up by kid (so rotation keeps old ones usable), and a
JWE decrypts with its content key alone (no RSA) exactly as with the private key."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from gateway.crypto.jwe import (
    DecryptionError,
    decrypt_stream,
    decrypt_stream_with_key,
    decryption_keys,
    encrypt_compact,
    open_stream,
)
from gateway.crypto.keys import KeyPair, KeyStore, generate_key_pair
from gateway.crypto.keywrap import (
    ContentKeyError,
    UnknownWrapKeyError,
    WrapKeys,
    WrappedKey,
    part_binding,
)

LIMIT = 1 << 20
HERE = part_binding("sub-1", "metadata", "a" * 32)


@pytest.fixture(scope="module")
def pair() -> KeyPair:
    return generate_key_pair("encryption", "unit-test")


def test_a_wrapped_key_unwraps_for_its_own_part_only(tmp_path: Path) -> None:
    wrap = WrapKeys(tmp_path)
    cek = os.urandom(32)
    wrapped = wrap.wrap(cek, HERE)
    assert len(wrapped.wrapped) == 60 and cek not in wrapped.wrapped
    assert wrap.unwrap(wrapped, HERE) == cek
    for elsewhere in (
        part_binding("sub-1", "data", "a" * 32),  # another part
        part_binding("sub-2", "metadata", "a" * 32),  # another submission
        part_binding("sub-1", "metadata", "b" * 32),  # another blob
    ):
        with pytest.raises(ContentKeyError):
            wrap.unwrap(wrapped, elsewhere)


@pytest.mark.parametrize("where", [0, 12, 30, 59])
def test_an_altered_wrapped_key_is_refused(tmp_path: Path, where: int) -> None:
    wrap = WrapKeys(tmp_path)
    wrapped = wrap.wrap(os.urandom(32), HERE)
    altered = bytearray(wrapped.wrapped)
    altered[where] ^= 0x80
    with pytest.raises(ContentKeyError):
        wrap.unwrap(WrappedKey(wrapped.kid, bytes(altered)), HERE)
    with pytest.raises(ContentKeyError):
        wrap.unwrap(WrappedKey(wrapped.kid, wrapped.wrapped[:-1]), HERE)


def test_wrap_keys_are_private_files_in_the_gateway_folder_of_the_key_directory(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    wrap = WrapKeys(store.root / "gateway")
    kid = wrap.current()
    path = wrap.path(kid)
    assert path.parent == store.root / "gateway" and path.name == f"key-wrap-{kid}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    assert store.problems() == [] and store.keys("gateway") == []  # not taken for a signing key


def test_rotation_makes_a_new_current_key_and_the_old_one_still_unwraps(tmp_path: Path) -> None:
    wrap = WrapKeys(tmp_path, rescan_seconds=0)
    cek = os.urandom(32)
    old = wrap.wrap(cek, HERE)
    new_kid = wrap.rotate()
    assert new_kid != old.kid and wrap.current() == new_kid and wrap.kids() == [old.kid, new_kid]
    assert wrap.wrap(cek, HERE).kid == new_kid
    other_process = WrapKeys(tmp_path)  # finds both by kid
    assert other_process.unwrap(old, HERE) == cek
    assert wrap.remove(old.kid)
    with pytest.raises(UnknownWrapKeyError):
        WrapKeys(tmp_path).unwrap(old, HERE)
    with pytest.raises(UnknownWrapKeyError):
        wrap.unwrap(WrappedKey("../../etc/passwd", old.wrapped), HERE)


@pytest.mark.parametrize("compress", [False, True])
def test_a_jwe_decrypts_with_its_content_key_as_with_the_private_key(pair: KeyPair, compress: bool) -> None:
    plaintext = os.urandom(3000) + b"<xml/>" * 5000
    token = encrypt_compact(pair.public_jwk, plaintext, "application/xml", compress=compress).encode()
    parts: list[bytes] = []
    opened = open_stream(io.BytesIO(token), decryption_keys([pair]), parts.append, max_inflated=LIMIT)
    assert b"".join(parts) == plaintext and len(opened.content_key) == 32
    assert "content_key" not in repr(opened)  # never in a log line or a traceback
    again: list[bytes] = []
    header = decrypt_stream_with_key(
        io.BytesIO(token), opened.content_key, again.append, max_inflated=LIMIT, chunk_chars=1000
    )
    assert b"".join(again) == plaintext and header == opened.header


def test_a_wrong_content_key_or_tampered_ciphertext_fails_like_any_decryption(pair: KeyPair) -> None:
    token = encrypt_compact(pair.public_jwk, b"<xml>Antrag</xml>" * 100, "application/xml").encode()
    opened = open_stream(io.BytesIO(token), decryption_keys([pair]), lambda _c: None, max_inflated=LIMIT)
    with pytest.raises(DecryptionError):
        decrypt_stream_with_key(io.BytesIO(token), os.urandom(32), lambda _c: None, max_inflated=LIMIT)
    with pytest.raises(DecryptionError):
        decrypt_stream_with_key(
            io.BytesIO(token), opened.content_key[:16], lambda _c: None, max_inflated=LIMIT
        )
    segments = token.split(b".")
    segments[3] = (b"B" if segments[3][:1] != b"B" else b"C") + segments[3][1:]
    with pytest.raises(DecryptionError):
        decrypt_stream_with_key(
            io.BytesIO(b".".join(segments)), opened.content_key, lambda _c: None, max_inflated=LIMIT
        )


@pytest.mark.parametrize("bad", [b"+", b"/", b"=", b" ", b"\n", b"*"])
def test_base64url_stays_strict_in_the_ciphertext(pair: KeyPair, bad: bytes) -> None:
    token = encrypt_compact(pair.public_jwk, os.urandom(5000), "application/pdf").encode()
    segments = token.split(b".")
    middle = len(segments[3]) // 2
    segments[3] = segments[3][:middle] + bad + segments[3][middle + 1 :]
    with pytest.raises(DecryptionError):
        decrypt_stream(
            io.BytesIO(b".".join(segments)), decryption_keys([pair]), lambda _c: None, max_inflated=LIMIT
        )
