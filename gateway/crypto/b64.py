"""base64url without padding (RFC 7515 §2), strict on decode."""

from __future__ import annotations

import base64
import binascii
import re

import pybase64

_ALPHABET = re.compile(rb"^[A-Za-z0-9_-]*$")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode unpadded base64url; raises ``ValueError`` on padding, other alphabets or bad length."""
    raw = text.encode("ascii", "strict") if isinstance(text, str) else text
    if not _ALPHABET.match(raw) or len(raw) % 4 == 1:
        raise ValueError("not base64url")
    try:
        return pybase64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def int_to_b64(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def b64_to_int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")
