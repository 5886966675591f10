"""RSA-4096 key pairs as FIT-Connect publishes them: JWKs with a self-signed x5c chain, kid = RFC 7638.

A destination has encryption keys (``RSA-OAEP-256``, public ``key_ops ["wrapKey"]``) and signing
keys (``PS512``, public ``["verify"]``). Private JWKs live in the key directory with 0600
permissions, one file per key: ``<key_dir>/<owner>/<kid>.json``. A rotated key stays, so
submissions encrypted to it still decrypt, until ``xgw keys prune`` removes it once no submission
in flight may need it (:mod:`gateway.operations.keys`).

Several processes may share one key directory (``xgw api`` x N, workers; a shared volume): what a
process creates on first start (the gateway's own signing key, its secrets) is created under an
exclusive lock on ``<key_dir>/<owner>/.lock``, so the first process creates it and the others
read the same file.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from gateway.crypto.b64 import b64_to_int, b64url_encode, int_to_b64

Purpose = Literal["encryption", "signing"]
#: A private RSA key, for modules that hold one without importing ``cryptography``.
PrivateKey = rsa.RSAPrivateKey
KEY_BITS = 4096
_PUBLIC_OPS = {"encryption": ["wrapKey"], "signing": ["verify"]}
_PRIVATE_OPS = {"encryption": ["unwrapKey"], "signing": ["sign"]}
_ALG = {"encryption": "RSA-OAEP-256", "signing": "PS512"}


@dataclass(frozen=True)
class KeyPair:
    """One stored key: its purpose, creation time, private key and public JWK."""

    kid: str
    purpose: Purpose
    created: str
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, Any]


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": int_to_b64(numbers.e), "kty": "RSA", "n": int_to_b64(numbers.n)}, separators=(",", ":")
    )
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def _self_signed(key: rsa.RSAPrivateKey, common_name: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA512(), rsa_padding=padding.PSS(padding.MGF1(hashes.SHA512()), 64))
    )
    return cert.public_bytes(serialization.Encoding.DER)


def public_jwk(key: rsa.RSAPrivateKey, purpose: Purpose, x5c: list[str]) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": thumbprint(key.public_key()),
        "alg": _ALG[purpose],
        "key_ops": _PUBLIC_OPS[purpose],
        "x5c": x5c,
        "n": int_to_b64(numbers.n),
        "e": int_to_b64(numbers.e),
    }


def generate_key_pair(purpose: Purpose, owner: str) -> KeyPair:
    """A fresh RSA-4096 key (e = 65537) with a self-signed certificate naming its owner."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    cert = _self_signed(key, f"xoev-gateway {owner} {purpose}")
    jwk = public_jwk(key, purpose, [base64.b64encode(cert).decode("ascii")])
    created = dt.datetime.now(dt.UTC).isoformat()
    return KeyPair(jwk["kid"], purpose, created, key, jwk)


def _private_jwk(pair: KeyPair) -> dict[str, Any]:
    p = pair.private_key.private_numbers()
    return {
        **pair.public_jwk,
        "key_ops": _PRIVATE_OPS[pair.purpose],
        "d": int_to_b64(p.d),
        "p": int_to_b64(p.p),
        "q": int_to_b64(p.q),
        "dp": int_to_b64(p.dmp1),
        "dq": int_to_b64(p.dmq1),
        "qi": int_to_b64(p.iqmp),
        "purpose": pair.purpose,
        "created": pair.created,
    }


def _load_private(doc: dict[str, Any]) -> KeyPair:
    public = rsa.RSAPublicNumbers(b64_to_int(doc["e"]), b64_to_int(doc["n"]))
    private = rsa.RSAPrivateNumbers(
        p=b64_to_int(doc["p"]),
        q=b64_to_int(doc["q"]),
        d=b64_to_int(doc["d"]),
        dmp1=b64_to_int(doc["dp"]),
        dmq1=b64_to_int(doc["dq"]),
        iqmp=b64_to_int(doc["qi"]),
        public_numbers=public,
    ).private_key(unsafe_skip_rsa_key_validation=True)  # our own files, written by generate(): see KeyStore
    purpose: Purpose = doc["purpose"]
    jwk = {k: doc[k] for k in ("kty", "kid", "alg", "x5c", "n", "e")} | {"key_ops": _PUBLIC_OPS[purpose]}
    return KeyPair(doc["kid"], purpose, doc["created"], private, jwk)


def write_private(path: Path, content: bytes) -> None:
    """Write a secret file atomically with 0600 permissions (directory 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class KeyStore:
    """Private keys on disk, grouped by owner (a destination id, or ``gateway``).

    The files are written only by ``generate`` (0600, in a 0700 directory), so loading skips
    OpenSSL's expensive RSA consistency check (~0.25 s per RSA-4096 key).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[Path, tuple[int, KeyPair]] = {}  # file → (mtime_ns, parsed key)

    def generate(self, owner: str, purpose: Purpose) -> KeyPair:
        """A new key pair of ``owner``, stored."""
        pair = generate_key_pair(purpose, owner)
        self.store(owner, pair)
        return pair

    def ensure(self, owner: str, purpose: Purpose) -> list[KeyPair]:
        """The keys of ``owner`` for ``purpose``, oldest first; one is generated if there is none
        (once, however many processes ask at the same time)."""
        with self._exclusive(owner):
            pairs = [k for k in self.keys(owner) if k.purpose == purpose]
            return pairs or [self.generate(owner, purpose)]

    @contextmanager
    def _exclusive(self, owner: str) -> Iterator[None]:
        """Hold the lock file of ``owner``'s folder (``flock``) for the block."""
        folder = self.root / owner
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def store(self, owner: str, pair: KeyPair) -> None:
        """Write ``pair`` (from :func:`generate_key_pair`) as a key of ``owner``."""
        write_private(self.root / owner / f"{pair.kid}.json", json.dumps(_private_jwk(pair)).encode())

    def remove(self, owner: str, kid: str) -> bool:
        """Delete a key of ``owner``; ``False`` if there is no such key file."""
        path = self.root / owner / f"{kid}.json"
        if path.parent != self.root / owner or not path.is_file():
            return False
        path.unlink()
        self._loaded.pop(path, None)
        return True

    def keys(self, owner: str) -> list[KeyPair]:
        """All keys of an owner, oldest first."""
        folder = self.root / owner
        if not folder.is_dir():
            return []
        return sorted((self._load(p) for p in folder.glob("*.json")), key=lambda k: k.created)

    def _load(self, path: Path) -> KeyPair:
        """A key file, parsed once per process (again only if the file changes)."""
        mtime = path.stat().st_mtime_ns
        cached = self._loaded.get(path)
        if cached is None or cached[0] != mtime:
            cached = (mtime, _load_private(json.loads(path.read_bytes())))
            self._loaded[path] = cached
        return cached[1]

    def problems(self) -> list[str]:
        """What is wrong with the key directory itself: missing, unreadable, or files others can read."""
        if not self.root.exists():
            return [f"key directory {self.root} does not exist (`xgw keys generate` creates it)"]
        if not self.root.is_dir() or not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            return [f"key directory {self.root} is not a directory this user can read and write"]
        return [
            f"key file {path} is open to others (mode {stat.S_IMODE(path.stat().st_mode):04o}): chmod 600 it"
            for path in sorted(self.root.glob("*/*"))
            if path.is_file() and path.stat().st_mode & 0o077
        ]

    def secret(self, name: str, size: int = 32) -> bytes:
        """A random secret kept in the key directory, created on first use."""
        path = self.root / "gateway" / f"{name}.secret"
        if not path.exists():
            with self._exclusive("gateway"):
                if not path.exists():
                    write_private(path, os.urandom(size))
        return path.read_bytes()
