"""Memory of hostile compression: RSS while the validate stage opens ``zip: DEF`` bombs.

Each scenario runs in a fresh process that decrypts a submission's parts with
``gateway.content.parts.open_parts`` (what the validate stage and the dry run do), drops the
plaintexts and trims the heap as ``check_submission`` does, and reports its RSS before, at the
peak and after. The baseline, measured in the same run, is a process that holds the bomb's
plaintext once as one ``bytes`` object and frees it.

    python bench/inflate_rss.py --mb 250
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 1024 * 1024
SCENARIOS = {
    "baseline": "hold the plaintext once as bytes, then free it",
    "data-bomb": "data part inflating to --mb, default limits",
    "data-bomb-allowed": "the same with limits.max_inflated_bytes raised above --mb",
    "data-bomb-allowed-no-trim": "the same without returning freed memory to the OS",
    "metadata-and-data-bombs": "metadata and data both inflating to --mb, default limits",
    "dry-run-attachment-bombs": "a dry run with three attachments inflating to --mb each",
}


def _rss(field: str) -> float:
    """A ``/proc/self/status`` figure in MiB (VmRSS now, VmHWM the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def prepare(work: Path, size: int) -> None:
    """A key pair, a small metadata JWE and a bomb JWE of ``size`` zero bytes, in ``work``."""
    from gateway.crypto.jwe import encrypt_compact
    from gateway.crypto.keys import KeyStore

    public = KeyStore(work / "keys").generate("bench", "encryption").public_jwk
    (work / "metadata.jwe").write_text(
        encrypt_compact(public, b'{"contentStructure":{}}', "application/json")
    )
    (work / "bomb.jwe").write_text(encrypt_compact(public, bytes(size), "application/xml", compress=True))


def child(work: Path, scenario: str, size: int) -> dict[str, float | str | int]:
    """Run one scenario in this process; its RSS figures."""
    from unittest import mock

    from gateway.config.settings import Limits
    from gateway.content import parts as content_parts
    from gateway.crypto.jwe import decryption_keys
    from gateway.crypto.keys import KeyStore
    from gateway.memory import release_freed_memory

    keys = decryption_keys(KeyStore(work / "keys").keys("bench"))
    before = _rss("VmRSS")
    if scenario == "baseline":
        held = b"\x01" * size  # touched pages (bytes(size) would stay unmapped zero pages)
        held = b""
        release_freed_memory(size)
        return {"before": before, "peak": _rss("VmHWM"), "after": _rss("VmRSS"), "plaintext": len(held)}
    metadata, bomb = (
        content_parts.Sealed.of_file(work / "metadata.jwe"),
        content_parts.Sealed.of_file(work / "bomb.jwe"),
    )
    limits = Limits()
    dry_run = scenario.startswith("dry-run")
    if scenario.startswith("data-bomb-allowed"):
        limits = Limits(max_inflated_bytes=size + MIB, max_attachment_bytes=size + MIB)
    sealed = content_parts.SealedParts(
        metadata=bomb if scenario == "metadata-and-data-bombs" else metadata,
        data=None if dry_run else bomb,
        attachments={f"a{i}": bomb for i in range(3)} if dry_run else {},
    )
    meter = content_parts.PlaintextMeter(content_parts.PlaintextLimits.of(limits, dry_run=dry_run))
    trim = (
        mock.patch("gateway.memory._malloc_trim", return_value=None)
        if "no-trim" in scenario
        else mock.MagicMock()
    )
    with trim:
        opened, problems = content_parts.open_parts(sealed, keys, meter)
        outcome = "refused" if opened is None else "opened"
        opened = None
        release_freed_memory(meter.total)
    return {
        "before": before,
        "peak": _rss("VmHWM"),
        "after": _rss("VmRSS"),
        "plaintext": meter.total,
        "outcome": f"{outcome} ({', '.join(p.instance for p in problems) or 'no problems'})",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=250, help="plaintext of each bomb in MiB")
    parser.add_argument("--child", nargs=2, metavar=("WORK", "SCENARIO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.mb * MIB
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], size)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work, size)
        results = {}
        for scenario in SCENARIOS:
            run = [sys.executable, __file__, "--mb", str(args.mb), "--child", str(work), scenario]
            results[scenario] = json.loads(
                subprocess.run(run, check=True, capture_output=True, text=True).stdout
            )
    base = results["baseline"]["peak"] - results["baseline"]["before"]
    print(f"bomb plaintext {args.mb} MiB; baseline (holding it once) peak growth {base:.0f} MiB\n")
    print("| scenario | outcome | plaintext MiB | peak growth MiB | ÷ baseline | growth after MiB |")
    print("|---|---|---|---|---|---|")
    for scenario, r in results.items():
        peak, after = r["peak"] - r["before"], r["after"] - r["before"]
        outcome = r.get("outcome", "-")
        cells = [
            scenario,
            outcome,
            f"{r['plaintext'] / MIB:.0f}",
            f"{peak:.0f}",
            f"{peak / base:.2f}",
            f"{after:.0f}",
        ]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
