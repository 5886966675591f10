"""Processes that share one key directory (``xgw api`` x N and workers on a shared volume) create
the gateway's own signing key and secrets once: the first creates them, the others read them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from gateway.crypto.keys import KeyStore
from gateway.events.sets import gateway_signer

T = TypeVar("T")
STARTS = 4


def at_once(work: Callable[[], T]) -> list[T]:
    """``work`` in ``STARTS`` threads released together, each with its own open of the lock file
    (``flock`` excludes separate opens in one process as it does separate processes)."""
    barrier = threading.Barrier(STARTS)

    def started() -> T:
        barrier.wait()
        return work()

    with ThreadPoolExecutor(STARTS) as pool:
        return list(pool.map(lambda _: started(), range(STARTS)))


def test_gateway_signing_key_is_created_once_when_processes_start_together(tmp_path: Path) -> None:
    signers = at_once(lambda: gateway_signer(KeyStore(tmp_path), "https://gw.test")[0])
    assert len({s.kid for s in signers}) == 1
    assert len(list((tmp_path / "gateway").glob("*.json"))) == 1
    assert KeyStore(tmp_path).problems() == []  # the lock file is 0600 like the keys


def test_a_secret_is_created_once_when_processes_start_together(tmp_path: Path) -> None:
    secrets = at_once(lambda: KeyStore(tmp_path).secret("token-signing"))
    assert len(set(secrets)) == 1 and len(secrets[0]) == 32
    assert [p.name for p in (tmp_path / "gateway").glob("*.secret")] == ["token-signing.secret"]


def test_ensure_keeps_existing_keys(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    first = store.generate("gateway", "signing")
    assert [k.kid for k in store.ensure("gateway", "signing")] == [first.kid]
