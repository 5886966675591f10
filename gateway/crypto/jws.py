"""Compact JWS: PS512 for Security Event Tokens, HS256 for the gateway's own access tokens.

Verification is strict: the header ``alg`` must be the one expected (no ``none``, no algorithm
switching), signatures are compared in constant time, and only compact serialization is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.crypto.b64 import b64_to_int, b64url_decode, b64url_encode
from gateway.errors import PermanentError

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)  # RFC 7518 §3.5: salt = hash size


class JwsError(PermanentError):
    """The token is malformed, uses another algorithm, or its signature does not verify."""

    slug = "jws-invalid"


def _encode(obj: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JwsError(f"duplicate member {key!r}")
        out[key] = value
    return out


def _decode_json(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment), object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwsError("segment is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise JwsError("segment is not a JSON object")
    return value


def split(token: str, expected_alg: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signing input and signature of a compact JWS whose ``alg`` is ``expected_alg``."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 64 * 1024:
        raise JwsError("not a compact JWS")
    header = _decode_json(parts[0])
    if header.get("alg") != expected_alg:
        raise JwsError("unexpected alg")
    claims = _decode_json(parts[1])
    try:
        signature = b64url_decode(parts[2])
    except ValueError as exc:
        raise JwsError("signature is not base64url") from exc
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


def sign_ps512(key: rsa.RSAPrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{_encode({**header, 'alg': 'PS512'})}.{_encode(claims)}"
    signature = key.sign(signing_input.encode(), _PSS, hashes.SHA512())
    return f"{signing_input}.{b64url_encode(signature)}"


def public_key_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(b64_to_int(jwk["e"]), b64_to_int(jwk["n"])).public_key()


def verify_ps512(token: str, key: rsa.RSAPublicKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a PS512 JWS signed by ``key``; raises ``JwsError`` otherwise."""
    header, claims, signing_input, signature = split(token, "PS512")
    try:
        key.verify(signature, signing_input, _PSS, hashes.SHA512())
    except InvalidSignature as exc:
        raise JwsError("signature does not verify") from exc
    return header, claims


def sign_hs256(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{_encode({**header, 'alg': 'HS256'})}.{_encode(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def verify_hs256(token: str, secret: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of an HS256 JWS made with ``secret``; raises ``JwsError`` otherwise."""
    header, claims, signing_input, signature = split(token, "HS256")
    expected = hmac.new(secret, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise JwsError("signature does not verify")
    return header, claims
