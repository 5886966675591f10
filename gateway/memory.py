"""Giving freed memory back to the operating system after large work.

glibc keeps memory freed in worker threads in its arenas, so after checking a submission that
inflated to a few hundred MiB the process stays that large although Python freed everything.
``malloc_trim`` returns free pages of every arena; elsewhere (musl, macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

#: Work that freed less than this is not worth a trim (it walks every arena).
TRIM_AFTER_BYTES = 8 * 1024 * 1024


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


def release_freed_memory(freed_bytes: int) -> bool:
    """Return free heap pages to the OS after work that freed about ``freed_bytes``; whether it ran."""
    trim = _malloc_trim()
    if trim is None or freed_bytes < TRIM_AFTER_BYTES:
        return False
    trim(0)
    return True
