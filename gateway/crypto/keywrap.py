"""Content keys re-wrapped under a local key, so a part is opened with RSA once, not twice.

The validate stage unwraps each part's content encryption key (CEK) with the destination's
RSA-4096 key (about 1.5 ms of CPU each). Once the part verified, it wraps that CEK again under
a local AES-256 key (:class:`WrapKeys`) and the database keeps only the wrapped form; the
deliver stage unwraps it in microseconds and decrypts the stored JWE with it
(:func:`gateway.crypto.jwe.decrypt_stream_with_key`, the GCM tag still checked).

* **Wrapping** is AES-256-GCM: ``nonce (12) || ciphertext (32) || tag (16)``, 60 bytes. The
  associated data is the wrap key's kid and the *binding* of the part (the submission id, the
  part's name and its blob): a wrapped key moved to another part or submission, or altered,
  fails to unwrap (:class:`ContentKeyError`) before any plaintext is produced.
* **Wrap keys** live in the key directory beside the gateway's other secrets:
  ``<key_dir>/gateway/key-wrap-<kid>.key``, 32 random bytes, 0600 in a 0700 directory. The kid
  starts with the UTC creation time, so the newest key is the current one; older keys stay to
  unwrap what they wrapped, looked up by the kid stored next to each wrapped key (a kid not
  loaded yet is read from its file, so a key another process created is found at once); each
  process looks for a newer current key at most every ``rescan_seconds``.
* **Rotation** (:meth:`WrapKeys.rotate`, ``xgw keys rotate-wrap``) adds a new current key; an old
  key may be deleted once no stored wrapped key names its kid (then the deliver stage falls back
  to RSA for such a part, :class:`UnknownWrapKeyError`). With random 96-bit nonces a key should
  wrap fewer than 2^32 content keys: rotate well before (a yearly rotation is far below).

Neither the bare CEK nor a wrap key is ever logged, stored in the database or published.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.crypto.keys import write_private
from gateway.errors import PermanentError

__all__ = ["ContentKeyError", "UnknownWrapKeyError", "WrapKeys", "WrappedKey", "created", "part_binding"]

PREFIX, SUFFIX = "key-wrap-", ".key"
_KID = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}$")
_KEY_BYTES, _NONCE_BYTES, _CEK_BYTES = 32, 12, 32
WRAPPED_BYTES = _NONCE_BYTES + _CEK_BYTES + 16
_CONTEXT = b"xgw content key v1\0"


class ContentKeyError(PermanentError):
    """A stored wrapped content key does not unwrap: altered, or moved from another part."""

    slug = "content-key-invalid"

    def __init__(self, detail: str = "the stored content key does not unwrap for this part") -> None:
        super().__init__(detail)


class UnknownWrapKeyError(ContentKeyError):
    """The wrap key named by a stored kid is not in the key directory (removed after a rotation)."""

    slug = "wrap-key-unknown"

    def __init__(self, kid: str) -> None:
        super().__init__(f"wrap key {kid[:64]!r} is not in the key directory")
        self.kid = kid


@dataclass(frozen=True)
class WrappedKey:
    """A content key wrapped under the local key ``kid`` (what the database keeps)."""

    kid: str
    wrapped: bytes


def part_binding(submission_id: str, part: str, blob: str) -> bytes:
    """What a wrapped key is bound to: one part (``metadata``, ``data``, ``attachment:<id>``) of
    one submission, stored in one blob."""
    return "\0".join((submission_id, part, blob)).encode("utf-8")


def created(kid: str) -> dt.datetime:
    """When the wrap key ``kid`` was made (its kid starts with the UTC time)."""
    return dt.datetime.strptime(kid.split("Z-", 1)[0], "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)


def _new_kid() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"


class WrapKeys:
    """The local key-wrap keys in ``folder`` (``<key_dir>/gateway``); thread-safe."""

    def __init__(self, folder: Path, *, rescan_seconds: float = 60.0) -> None:
        self.folder = folder
        self.rescan_seconds = rescan_seconds
        self._keys: dict[str, AESGCM] = {}
        self._current: str | None = None
        self._scanned = 0.0
        self._lock = threading.Lock()

    def path(self, kid: str) -> Path:
        if not _KID.match(kid):
            raise ValueError("not a wrap key id")
        return self.folder / f"{PREFIX}{kid}{SUFFIX}"

    def kids(self) -> list[str]:
        """Every wrap key in the directory, oldest first (the last is the current one)."""
        if not self.folder.is_dir():
            return []
        names = (p.name[len(PREFIX) : -len(SUFFIX)] for p in self.folder.glob(f"{PREFIX}*{SUFFIX}"))
        return sorted(kid for kid in names if _KID.match(kid))

    def rotate(self) -> str:
        """Create a new wrap key, current from now on (older ones keep unwrapping); its kid."""
        kid = _new_kid()
        write_private(self.path(kid), os.urandom(_KEY_BYTES))
        with self._lock:
            self._current = None
        return kid

    def remove(self, kid: str) -> bool:
        """Delete a wrap key file; ``False`` if there is none. Wrapped keys naming it no longer
        unwrap (the deliver stage then falls back to RSA for them)."""
        path = self.path(kid)
        if not path.is_file():
            return False
        path.unlink()
        with self._lock:
            self._keys.pop(kid, None)
            self._current = None
        return True

    def _load(self, kid: str) -> AESGCM:
        with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            try:
                raw = self.path(kid).read_bytes()
            except (FileNotFoundError, ValueError):
                raise UnknownWrapKeyError(kid) from None
            if len(raw) != _KEY_BYTES:
                raise UnknownWrapKeyError(kid)
            key = self._keys[kid] = AESGCM(raw)
            return key

    def current(self) -> str:
        """The kid of the newest wrap key, created on first use."""
        now = time.monotonic()
        with self._lock:
            current = self._current
            if current is not None and now - self._scanned < self.rescan_seconds:
                return current
        kids = self.kids()
        current = kids[-1] if kids else self.rotate()
        with self._lock:
            self._current, self._scanned = current, now
        return current

    def wrap(self, content_key: bytes, binding: bytes) -> WrappedKey:
        """``content_key`` wrapped under the current key, bound to ``binding`` (:func:`part_binding`)."""
        if len(content_key) != _CEK_BYTES:
            raise ValueError("a content key is 32 bytes")
        kid = self.current()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._load(kid).encrypt(nonce, content_key, _aad(kid, binding))
        return WrappedKey(kid, nonce + sealed)

    def unwrap(self, key: WrappedKey, binding: bytes) -> bytes:
        """The content key; raises :class:`ContentKeyError` (altered, another part's, wrong
        length) or :class:`UnknownWrapKeyError` (its wrap key is gone)."""
        if not _KID.match(key.kid):
            raise UnknownWrapKeyError(key.kid)
        aead = self._load(key.kid)
        if len(key.wrapped) != WRAPPED_BYTES:
            raise ContentKeyError()
        nonce, sealed = key.wrapped[:_NONCE_BYTES], key.wrapped[_NONCE_BYTES:]
        try:
            return aead.decrypt(nonce, sealed, _aad(key.kid, binding))
        except InvalidTag:
            raise ContentKeyError() from None


def _aad(kid: str, binding: bytes) -> bytes:
    return _CONTEXT + kid.encode("ascii") + b"\0" + binding
