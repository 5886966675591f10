"""JWE decryption speed against its AES-GCM + SHA-512 bound, and the deliver stage's crypto CPU
per submission with and without the second RSA unwrap, in one run.

**Large attachment** (``--mb``, default 50 MiB of random bytes, like a PDF: no ``zip``): one
compact JWE (RSA-OAEP-256 + A256GCM to a fresh RSA-4096 key) in a file, decrypted from the file
in the gateway's chunks. Interleaved per run:

* ``stdlib b64``: :func:`gateway.crypto.jwe.decrypt_file` with the base64url decoder it had
  before (``binascii.a2b_base64(strict_mode=True)`` after a translate), into SHA-512 as the
  validate stage hashes an attachment;
* ``pybase64``: the same call as it is now, into SHA-512;
* ``pybase64, content key``: :func:`~gateway.crypto.jwe.decrypt_file_with_key` (the deliver
  stage's path, no RSA) into SHA-512;
* **bound**: AES-256-GCM decryption of the raw ciphertext bytes (already in memory, no base64, no
  file) plus SHA-512 of the plaintext, in the same chunk size: what any JWE decryption that
  hashes must cost at least on this core.

MB/s are of plaintext; the ratio is each variant's rate over the bound of the same run.

**Deliver stage per submission** (``--submissions``): metadata (about 1 KiB JSON), data (10 KiB
XML) and one 100 KiB attachment, each a JWE to the same key; CPU (``process_time``) to open all
three parts with the deliver stage's own code (:class:`gateway.stages.deliver.view.PartKeys`):
with no stored keys (RSA for each part, the behaviour before) and with the keys the validate
stage wraps now (AES-GCM unwrap of 60 bytes per part).

    python bench/jwe_decrypt.py --mb 50 --runs 3 --submissions 200
"""

from __future__ import annotations

import argparse
import binascii
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.crypto import jwe
from gateway.crypto.b64 import b64url_decode
from gateway.crypto.keys import generate_key_pair
from gateway.crypto.keywrap import WrapKeys, part_binding
from gateway.stages.deliver.view import PartKeys
from gateway.store.blobs import BlobStore
from gateway.store.content_keys import StoredKey

MiB = 1024 * 1024
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def stdlib_decode(segment: bytes | memoryview) -> bytes:
    """The decoder ``gateway.crypto.jwe`` used before pybase64 (same strictness)."""
    segment = bytes(segment)
    pad = -len(segment) % 4
    if pad == 3 or b"+" in segment or b"/" in segment or b"=" in segment:
        raise jwe.DecryptionError()
    try:
        return binascii.a2b_base64(segment.translate(_TO_STANDARD) + b"=" * pad, strict_mode=True)
    except binascii.Error:
        raise jwe.DecryptionError() from None


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def attachment_rates(work: Path, mb: int, runs: int) -> dict[str, list[float]]:
    pair = generate_key_pair("encryption", "bench")
    keys = jwe.decryption_keys([pair])
    plaintext = os.urandom(mb * MiB)
    token = jwe.encrypt_compact(pair.public_jwk, plaintext, "application/pdf").encode("ascii")
    path = work / "attachment.jwe"
    path.write_bytes(token)
    header_seg, _key, iv_seg, ct_seg, tag_seg = token.split(b".")
    iv, tag, ciphertext = b64url_decode(iv_seg), b64url_decode(tag_seg), b64url_decode(ct_seg)
    del token, ct_seg
    expected = hashlib.sha512(plaintext).hexdigest()
    opened = jwe.open_stream(io.BytesIO(path.read_bytes()), keys, lambda _c: None, max_inflated=mb * MiB)
    cek = opened.content_key
    step = jwe.CHUNK_CHARS * 3 // 4  # the plaintext bytes one chunk of base64url characters holds

    def into_sha(decrypt: Callable[[Callable[[bytes], None]], object]) -> Callable[[], None]:
        def run() -> None:
            hasher = hashlib.sha512()
            decrypt(hasher.update)
            assert hasher.hexdigest() == expected

        return run

    def bound() -> None:
        decryptor = Cipher(algorithms.AES(cek), modes.GCM(iv, tag)).decryptor()
        decryptor.authenticate_additional_data(header_seg)
        hasher = hashlib.sha512()
        view = memoryview(ciphertext)
        for start in range(0, len(view), step):
            hasher.update(decryptor.update(view[start : start + step]))
        decryptor.finalize()
        assert hasher.hexdigest() == expected

    def with_stdlib(sink: Callable[[bytes], None]) -> None:
        original = jwe._decode
        jwe._decode = stdlib_decode  # type: ignore[assignment]
        try:
            jwe.decrypt_file(path, keys, sink, max_inflated=mb * MiB)
        finally:
            jwe._decode = original  # type: ignore[assignment]

    variants: dict[str, Callable[[], None]] = {
        "bound: AES-GCM + SHA-512": bound,
        "stdlib b64 (before)": into_sha(with_stdlib),
        "pybase64 (now)": into_sha(lambda sink: jwe.decrypt_file(path, keys, sink, max_inflated=mb * MiB)),
        "pybase64, content key (deliver)": into_sha(
            lambda sink: jwe.decrypt_file_with_key(path, cek, sink, max_inflated=mb * MiB)
        ),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():  # warm-up: page cache, code paths
        run()
    for _ in range(runs):
        for name, run in variants.items():
            wall, _cpu = timed(run)
            rates[name].append(len(plaintext) / wall / 1e6)
    return rates


def metadata_for(data: bytes, attachment: bytes, aid: str) -> bytes:
    return json.dumps(
        {
            "$schema": "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json",
            "contentStructure": {
                "data": {
                    "hash": {"type": "sha512", "content": hashlib.sha512(data).hexdigest()},
                    "submissionSchema": {
                        "schemaUri": "urn:xoev-de:xbau:standard:xbau_2.6",
                        "mimeType": "application/xml",
                    },
                },
                "attachments": [
                    {
                        "attachmentId": aid,
                        "hash": {"type": "sha512", "content": hashlib.sha512(attachment).hexdigest()},
                        "purpose": "attachment",
                        "filename": "lageplan.pdf",
                        "mimeType": "application/pdf",
                    }
                ],
            },
            "publicServiceType": {"name": "Bau", "identifier": "urn:de:fim:leika:leistung:99066006002000"},
        }
    ).encode()


def deliver_cpu(work: Path, submissions: int, runs: int) -> dict[str, list[float]]:
    """CPU ms per submission to open its three parts in the deliver stage."""
    pair = generate_key_pair("encryption", "bench")
    keys = jwe.decryption_keys([pair])
    blobs = BlobStore(work / "blobs")
    wrap = WrapKeys(work / "keys" / "gateway")
    data = b"<xbau>" + os.urandom(5000).hex().encode() + b"</xbau>"
    attachment, aid = os.urandom(100 * 1024), "a1"
    metadata = metadata_for(data, attachment, aid)
    cases = []
    for i in range(submissions):
        sid = f"bench-{i}"
        names: dict[str, str] = {}
        stored: dict[str, StoredKey] = {}
        for part, plain, cty in (
            ("metadata", metadata, "application/json"),
            ("data", data, "application/xml"),
            (f"attachment:{aid}", attachment, "application/pdf"),
        ):
            token = jwe.encrypt_compact(pair.public_jwk, plain, cty).encode()
            name = os.urandom(16).hex()
            blobs.path(name).parent.mkdir(exist_ok=True)
            blobs.path(name).write_bytes(token)
            names[part] = name
            cek = jwe.open_stream(io.BytesIO(token), keys, lambda _c: None, max_inflated=MiB).content_key
            wrapped = wrap.wrap(cek, part_binding(sid, part, name))
            stored[part] = StoredKey(wrapped.kid, wrapped.wrapped)
        cases.append((sid, names, stored))

    def open_all(with_keys: bool) -> None:
        for sid, names, stored in cases:
            part_keys = PartKeys(sid, keys, wrap, stored if with_keys else {}, MiB)
            for part, name in names.items():
                chunks: list[bytes] = []
                part_keys.decrypt(part, blobs, name)(chunks.append)

    variants = {"RSA unwrap per part (before)": False, "wrapped content keys (now)": True}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    open_all(False)
    open_all(True)
    for _ in range(runs):
        for name, with_keys in variants.items():
            _wall, seconds = timed(lambda w=with_keys: open_all(w))  # type: ignore[misc]
            cpu[name].append(seconds / submissions * 1000)
    return cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=int, default=50, help="attachment size in MiB (default 50)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (default 3)")
    parser.add_argument("--submissions", type=int, default=200, help="submissions per deliver run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xgw-jwe-bench-") as tmp:
        work = Path(tmp)
        rates = attachment_rates(work, args.mb, args.runs)
        cpu = deliver_cpu(work, args.submissions, args.runs)
    bound = statistics.median(rates["bound: AES-GCM + SHA-512"])
    print(f"{args.mb} MiB attachment JWE, decrypted from a file into SHA-512 (median of {args.runs} runs)")
    print(f"{'variant':36} {'MB/s':>8} {'min-max':>15} {'/ bound':>8}")
    for name, values in rates.items():
        median = statistics.median(values)
        spread = f"{min(values):.0f}-{max(values):.0f}"
        print(f"{name:36} {median:8.0f} {spread:>15} {median / bound:8.2f}")
    print(f"\ndeliver stage, CPU ms per submission to open its 3 parts ({args.submissions} submissions)")
    for name, values in cpu.items():
        spread = f"{min(values):.3f}-{max(values):.3f}"
        print(f"{name:36} {statistics.median(values):8.3f} ms {spread:>15}")
    before, now = (statistics.median(v) for v in cpu.values())
    print(f"{'saved per submission':36} {before - now:8.3f} ms ({before / now:.1f}x less CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
