"""Turning a sender's attachment file name into one that is safe on any file system.

A file name from a submission is sender input: it may hold path separators (``../../etc``),
control characters (NUL, newlines for header injection), bidi overrides (``U+202E`` makes
``gpj.exe`` read as ``exe.jpg``), Windows device names (``CON``, ``LPT1``) or be 10 000 characters
long. :func:`safe_filename` keeps what is harmless of the original and :func:`unique_filename`
prevents two attachments from overwriting each other, also on case-insensitive shares.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Set

#: Device names Windows refuses as a file name stem, with any extension.
RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CLOCK$", "CONIN$", "CONOUT$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"0123456789", "¹", "²", "³"]}
)
_FORBIDDEN = frozenset('<>:"/\\|?*')
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,16}$")
MAX_BYTES = 255  # file-name limit of ext4, XFS, NTFS (UTF-16 units) and zip readers


def safe_filename(name: str | None, *, fallback: str = "attachment", max_length: int = 120) -> str:
    """A harmless file name derived from ``name``; ``fallback`` when nothing usable remains.

    Keeps the last path component only, drops control and format characters (NUL, CR/LF, bidi
    overrides, zero-width), replaces characters Windows forbids with ``_``, trims dots and spaces
    at both ends, defuses device names (``CON.txt`` → ``_CON.txt``), and caps the length at
    ``max_length`` characters and 255 UTF-8 bytes, keeping a short extension. Never raises.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C":
            continue
        out.append(" " if category[0] == "Z" else "_" if char in _FORBIDDEN else char)
    text = re.sub(r" {2,}", " ", "".join(out)).strip(" .")
    if text.startswith("-"):
        text = "_" + text[1:]
    if not text:
        text = safe_filename(fallback) if fallback else "file"
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or not _EXTENSION.match(ext):
        stem, ext = text, ""
    if stem.split(".")[0].rstrip(" ").upper() in RESERVED_NAMES:
        stem = "_" + stem
    return _cap(stem, f".{ext}" if ext else "", max(1, min(max_length, MAX_BYTES)))


def _cap(stem: str, suffix: str, max_length: int) -> str:
    """``stem + suffix`` shortened (in the stem) to ``max_length`` chars and :data:`MAX_BYTES` bytes."""
    stem = stem[: max(1, max_length - len(suffix))]
    while len((stem + suffix).encode("utf-8")) > MAX_BYTES and len(stem) > 1:
        stem = stem[:-1]
    return (stem.rstrip(" .") or "_") + suffix


def unique_filename(name: str, taken: Set[str]) -> str:
    """``name``, or ``name`` with ``-2``, ``-3``… before the extension, not in ``taken``.

    ``taken`` holds case-folded names, so ``Plan.pdf`` and ``plan.PDF`` do not collide on a
    case-insensitive share; the caller adds ``result.casefold()`` to it.
    """
    if name.casefold() not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    counter = 2
    while True:
        candidate = _cap(stem, f"-{counter}{suffix}", MAX_BYTES)
        if candidate.casefold() not in taken:
            return candidate
        counter += 1


def is_safe_filename(name: str) -> bool:
    """Whether ``name`` is a single, harmless path component (what :func:`safe_filename` yields)."""
    if not name or name in {".", ".."} or name.startswith((".", "-")) or name.endswith((".", " ")):
        return False
    if len(name.encode("utf-8")) > MAX_BYTES or any(c in _FORBIDDEN for c in name):
        return False
    if any(unicodedata.category(c)[0] == "C" for c in name):
        return False
    return name.split(".")[0].rstrip(" ").upper() not in RESERVED_NAMES
