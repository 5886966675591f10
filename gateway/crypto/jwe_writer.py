"""Compact JWE encryption in steps, for a plaintext that arrives in chunks (an attachment).

The same JWE as :func:`gateway.crypto.jwe.encrypt_compact` (RSA-OAEP-256 key transport, A256GCM
content, header ``alg``, ``enc``, ``kid``, ``cty``), written as it goes: :meth:`JweWriter.begin`
gives the header, encrypted key and IV segments, :meth:`JweWriter.update` the base64url
ciphertext of each chunk (whole 3-byte groups; the rest waits for the next chunk),
:meth:`JweWriter.finish` the last ciphertext characters and the tag segment. Memory stays at the
size of one chunk whatever the size of the plaintext.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.crypto.b64 import b64url_encode
from gateway.crypto.jws import public_key_from_jwk

__all__ = ["JweWriter"]

_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class JweWriter:
    """One compact JWE to ``public_jwk`` (an RSA encryption JWK with ``kid``), built in steps."""

    def __init__(self, public_jwk: Mapping[str, Any], cty: str) -> None:
        header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": public_jwk["kid"], "cty": cty}
        self._header = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
        cek, self._iv = os.urandom(32), os.urandom(12)
        self._encrypted_key = public_key_from_jwk(dict(public_jwk)).encrypt(cek, _OAEP)
        self._encryptor = Cipher(algorithms.AES(cek), modes.GCM(self._iv)).encryptor()
        self._encryptor.authenticate_additional_data(self._header.encode("ascii"))
        self._carry = b""
        self.tag = ""  #: the authentication tag segment, once finished

    def begin(self) -> bytes:
        """Header, encrypted key and IV segments with their dots: the start of the token."""
        parts = [self._header, b64url_encode(self._encrypted_key), b64url_encode(self._iv), ""]
        return ".".join(parts).encode("ascii")

    def update(self, plaintext: bytes) -> bytes:
        """The base64url ciphertext of ``plaintext`` so far, in whole 3-byte groups."""
        data = self._carry + self._encryptor.update(plaintext)
        cut = len(data) - len(data) % 3
        self._carry = data[cut:]
        return b64url_encode(data[:cut]).encode("ascii") if cut else b""

    def finish(self) -> bytes:
        """The remaining ciphertext, a dot and the tag segment: the end of the token."""
        rest = self._carry + self._encryptor.finalize()
        self._carry = b""
        self.tag = b64url_encode(self._encryptor.tag)
        return (b64url_encode(rest) + "." + self.tag).encode("ascii")

    def whole(self, plaintext: bytes) -> str:
        """The whole token for a plaintext held in memory (metadata, data)."""
        return (self.begin() + self.update(plaintext) + self.finish()).decode("ascii")
