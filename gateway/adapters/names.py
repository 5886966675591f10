"""Turning a sender's attachment file name into one that is safe on any file system.

A file name from a submission is sender input: it may hold path separators (``../../etc``),
control characters (NUL, newlines for header injection), bidi overrides (``U+202E`` makes
``gpj.exe`` read as ``exe.jpg``), Windows device names (``CON``, ``LPT1``) or be 10 000 characters
long. :func:`safe_filename` keeps what is harmless of the original and :func:`unique_filename`
prevents two attachments from overwriting each other, also on case-insensitive shares.
:func:`attachment_filenames` does both for all attachments of a submission and gives every name
the extension of its media type (:func:`extension_for`) where the sender left it out.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Sequence, Set

from gateway.adapters.submission import AttachmentView

#: Device names Windows refuses as a file name stem, with any extension.
RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CLOCK$", "CONIN$", "CONOUT$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"0123456789", "¹", "²", "³"]}
)
_FORBIDDEN = frozenset('<>:"/\\|?*')
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,16}$")
MAX_BYTES = 255  # file-name limit of ext4, XFS, NTFS (UTF-16 units) and zip readers
#: Extensions of the media types senders attach, where Python's own table differs or has none.
EXTENSIONS = {
    "application/xml": ".xml",
    "image/tiff": ".tif",
    "application/pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/vnd.etsi.asic-e+zip": ".asice",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/gml+xml": ".gml",
}
_BUILT_IN_TYPES = mimetypes.MimeTypes()  # Python's table only: the same on every host
_PURPOSES = frozenset({"form", "attachment", "report"})


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


def extension_for(mime_type: str) -> str:
    """The file extension of ``mime_type`` with its dot (``application/pdf`` → ``.pdf``); ``.bin``
    for an unknown or malformed type. Parameters (``; charset=…``) and case are ignored."""
    key = mime_type.split(";", 1)[0].strip().lower()
    extension = EXTENSIONS.get(key) or _BUILT_IN_TYPES.guess_extension(key) or ".bin"
    return extension if _EXTENSION.match(extension[1:]) else ".bin"


def attachment_filenames(attachments: Sequence[AttachmentView]) -> list[str]:
    """A safe, unique file name for each of ``attachments``, in order.

    Each name is :func:`safe_filename` of the sender's, made unique with :func:`unique_filename`;
    a name without an extension gets the one of its media type. An attachment without a usable
    name is called after its purpose and position: ``form-1.pdf``, ``attachment-2.tif``.
    """
    taken: set[str] = set()
    names = []
    for index, attachment in enumerate(attachments, start=1):
        purpose = attachment.purpose if attachment.purpose in _PURPOSES else "attachment"
        name = safe_filename(attachment.filename, fallback=f"{purpose}-{index}")
        stem, dot, ext = name.rpartition(".")
        if not (dot and stem and _EXTENSION.match(ext)):
            name = _cap(name, extension_for(attachment.mime_type), MAX_BYTES)
        name = unique_filename(name, taken)
        taken.add(name.casefold())
        names.append(name)
    return names
