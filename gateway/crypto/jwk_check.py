"""Checks of a public JWK someone else holds the private key of (a Fachverfahren's), by the rules
FIT-Connect sets for destination keys and the gateway's own keys meet:

``kty`` RSA, ``alg`` RSA-OAEP-256 with ``key_ops`` ``["wrapKey"]`` (encryption) or PS512 with
``["verify"]`` (signing), ``e`` AQAB, a modulus of at least 4096 bits, a ``kid`` of 8–64
characters, and an ``x5c`` chain whose first certificate holds the same public key. Trust in the
chain (V-PKI, revocation) is not judged here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.crypto.b64 import b64_to_int

__all__ = ["MIN_BITS", "jwk_problems"]

MIN_BITS = 4096
_RULES = {"encryption": ("RSA-OAEP-256", "wrapKey"), "signing": ("PS512", "verify")}


def jwk_problems(jwk: Mapping[str, Any], purpose: Literal["encryption", "signing"]) -> list[str]:
    """What is wrong with ``jwk`` as a public key of ``purpose`` (empty: nothing)."""
    alg, op = _RULES[purpose]
    problems: list[str] = []
    if any(k in jwk for k in ("d", "p", "q", "dp", "dq", "qi")):
        problems.append("holds private key material: give the public key only")
    if jwk.get("kty") != "RSA":
        problems.append("kty must be RSA")
    if jwk.get("alg") != alg:
        problems.append(f"alg must be {alg}")
    if jwk.get("key_ops") != [op]:
        problems.append(f'key_ops must be ["{op}"]')
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 8 <= len(kid) <= 64:
        problems.append("kid must be a string of 8 to 64 characters")
    if jwk.get("e") != "AQAB":
        problems.append("e must be AQAB")
    try:
        n = b64_to_int(str(jwk.get("n", "")))
    except ValueError:
        return [*problems, "n is not base64url"]
    if n.bit_length() < MIN_BITS:
        problems.append(f"the modulus has {n.bit_length()} bits, at least {MIN_BITS} are required")
    chain = jwk.get("x5c")
    if not isinstance(chain, list) or not chain or not all(isinstance(c, str) for c in chain):
        return [*problems, "x5c must list the certificate chain (base64 DER), leaf first"]
    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True)).public_key()
    except (ValueError, binascii.Error):
        return [*problems, "x5c[0] is not a base64 DER certificate"]
    if not isinstance(leaf, rsa.RSAPublicKey) or leaf.public_numbers().n != n:
        problems.append("x5c[0] does not certify this key (n differs)")
    return problems
