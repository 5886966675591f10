"""The crypto bound: how many submissions' worth of unavoidable cryptography N processes do.

One unit is what one submission needs (:data:`~bench.e2e_kit.stats.UNWRAPS_PER_SUBMISSION`
RSA-OAEP-256 unwraps of a 32-byte content key with the destination's RSA-4096 key, and
:data:`~bench.e2e_kit.stats.SIGNATURES_PER_SUBMISSION` PS512 signatures of a SET of the size the
gateway signs, with ``gateway.crypto.jws.sign_ps512``), run with the keys of the stack under
test and the same ``cryptography`` build. Each process loads the keys, waits for a common start
time, then counts whole units until the common end; the bound is the sum over the processes
divided by the window.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .stats import SIGNATURES_PER_SUBMISSION, UNWRAPS_PER_SUBMISSION, CryptoBound, bound_from_counts

SETTLE_SECONDS = 1.0  # between submitting the jobs and the common start (keys load meanwhile)


def _warm(seconds: float) -> None:
    """Runs in a child process: imports what :func:`_units` needs, then holds the process busy for
    ``seconds`` so that each of the pool's processes gets one of these jobs."""
    import gateway.crypto.keys  # noqa: F401
    import gateway.events.sets  # noqa: F401

    time.sleep(seconds)


def _units(key_dir: str, destination: str, start_at: float, seconds: float) -> tuple[int, float]:
    """Runs in a child process: whole units completed from ``start_at`` (or from when this process
    was ready, if later) until ``start_at + seconds``, and the seconds it actually ran."""
    import os

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from gateway.crypto.jws import sign_ps512
    from gateway.crypto.keys import KeyStore
    from gateway.events.sets import SetSigner

    pairs = KeyStore(Path(key_dir)).keys(destination)
    encryption = next(p for p in pairs if p.purpose == "encryption").private_key
    signing = next(p for p in pairs if p.purpose == "signing")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = [encryption.public_key().encrypt(os.urandom(32), oaep) for _ in range(UNWRAPS_PER_SUBMISSION)]
    signer = SetSigner("http://127.0.0.1:8080", signing.kid, signing.private_key)
    tags = {"metadata": "A" * 22, "data": "B" * 22, "attachments": {"1" * 36: "C" * 22}}
    header = {"kid": signer.kid, "typ": "secevent+jwt"}
    claims = signer.claims("submit-submission", "2" * 36, "3" * 36, {"authenticationTags": tags})
    end = start_at + seconds
    while time.time() < start_at:
        time.sleep(0.001)
    began = time.time()
    done = 0
    while True:
        for token in wrapped:
            encryption.decrypt(token, oaep)
        for _ in range(SIGNATURES_PER_SUBMISSION):
            sign_ps512(signer.key, header, claims)
        if time.time() > end:
            return done, end - began  # the unit that crossed the end is not counted
        done += 1


class CryptoBoundMeter:
    """``processes`` long-lived worker processes (spawned once) that measure the bound on demand."""

    def __init__(self, key_dir: Path, destination: str, processes: int = 2) -> None:
        self.key_dir, self.destination, self.processes = key_dir, destination, processes
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
        self._warmed = False

    async def measure(self, seconds: float) -> CryptoBound:
        """The bound over a window of ``seconds``. Raises ``RuntimeError`` when a process started
        more than a tenth of the window late (the machine is too busy for a fair window)."""
        loop = asyncio.get_running_loop()
        if not self._warmed:  # start the processes and import in them, outside any window
            warm = [loop.run_in_executor(self._pool, _warm, 1.0) for _ in range(self.processes)]
            await asyncio.gather(*warm)
            self._warmed = True
        start_at = time.time() + SETTLE_SECONDS
        jobs = [
            loop.run_in_executor(self._pool, _units, str(self.key_dir), self.destination, start_at, seconds)
            for _ in range(self.processes)
        ]
        results = await asyncio.gather(*jobs)
        if any(ran < 0.9 * seconds for _, ran in results):
            raise RuntimeError(
                f"a crypto-bound process started late: ran {[round(r, 2) for _, r in results]} s"
            )
        return bound_from_counts([units for units, _ in results], seconds)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
