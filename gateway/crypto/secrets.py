"""Client secrets: generated with 256 bits of entropy, stored only as scrypt hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

_N, _R, _P = 2**14, 8, 1
_PREFIX = "scrypt"


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64) of a client secret."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        [
            _PREFIX,
            str(_N),
            str(_R),
            str(_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def is_valid_hash(stored: str) -> bool:
    parts = stored.split("$")
    return len(parts) == 6 and parts[0] == _PREFIX and all(p.isdigit() for p in parts[1:4])


_DUMMY = hash_secret("dummy", salt=b"\0" * 16)


def verify_secret(secret: str, stored: str | None) -> bool:
    """Constant-time check; an unknown client (``stored is None``) costs the same as a known one."""
    target = stored if stored is not None and is_valid_hash(stored) else _DUMMY
    _, n, r, p, salt_b64, hash_b64 = target.split("$")
    digest = hashlib.scrypt(
        secret.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(digest, base64.b64decode(hash_b64)) and stored is not None
