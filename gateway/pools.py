"""Thread pools by kind of CPU-heavy work, so that one kind cannot starve another.

A dry run that inflates and validates a large submission must not delay a token request of
another client: each kind runs in its own pool (the work releases the GIL: OpenSSL's scrypt and
RSA, zlib, libxml2). Blob writes and other short I/O keep asyncio's default pool.

| pool | work | threads |
|---|---|---|
| ``AUTH`` | client-secret hashing at ``POST /token`` | 2 |
| ``SIGNING`` | PS512 signatures of Security Event Tokens | 2 |
| ``CONTENT`` | decrypt, inflate and validate submissions (validate stage) | CPU count |
| ``DRY_RUN`` | the same for ``POST /v*/validate`` | 1 |
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Pool(StrEnum):
    AUTH = "auth"
    SIGNING = "signing"
    CONTENT = "content"
    DRY_RUN = "dry-run"


def _threads(pool: Pool) -> int:
    return {Pool.AUTH: 2, Pool.SIGNING: 2, Pool.CONTENT: os.cpu_count() or 2, Pool.DRY_RUN: 1}[pool]


@functools.cache
def executor(pool: Pool) -> ThreadPoolExecutor:
    """The process's executor for ``pool``, created on first use."""
    return ThreadPoolExecutor(max_workers=_threads(pool), thread_name_prefix=f"xgw-{pool}")


async def run_in(pool: Pool, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)`` in ``pool``'s threads, with the caller's context (log bindings)."""
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(executor(pool), call)
