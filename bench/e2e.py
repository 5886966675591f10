"""The bar: the full FIT-Connect sender flow against the gateway, next to its crypto bound.

For each stack (``embedded``: ``xgw serve`` on SQLite and the in-process broker; ``scale-out``:
``xgw api`` + ``xgw relay`` + ``xgw worker`` × ``--workers`` on PostgreSQL and RabbitMQ), every run
measures, in this order and back to back:

1. the crypto bound: what ``--bound-processes`` processes do of the per-submission crypto that
   cannot be avoided (3 RSA-4096 unwraps + 3 PS512 signatures), in submissions/s;
2. throughput at saturation: ``--senders`` concurrent senders, closed loop, ``--submissions``
   (or ``--duration`` seconds), counted to ``accept-submission``; CPU seconds per submission of
   each gateway process, the broker, PostgreSQL and this client;
3. latency submit → accept-submission at half of the rate just measured, open loop;
4. intake: the submit call alone (``--intake-calls`` prepared submissions), against the gateway
   and against the minimal app of the same HTTP shape (``bench/e2e_kit/minimal_app.py``).

Results (medians over ``--runs``, and every run) go to ``bench/results/<stack>.json``.

    python bench/e2e.py                       # both stacks, the documented defaults
    python bench/e2e.py --stack embedded --runs 1 --submissions 20 --intake-calls 20   # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from e2e_kit import procs
from e2e_kit.crypto_bound import CryptoBoundMeter
from e2e_kit.load import BenchSender, Prepared, Samples, bounded, open_loop, saturate, wait_all_accepted
from e2e_kit.stack import CLIENT_ID, CLIENT_SECRET, DESTINATION, Proc, Stack, free_port, spawn, wait_healthy
from e2e_kit.stats import cpu_ms_per_submission, latency_summary, ratio, summarize

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
KIT = Path(__file__).resolve().parent / "e2e_kit"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", choices=("embedded", "scale-out", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per stack (default 3)")
    parser.add_argument("--senders", type=int, default=48, help="concurrent senders at saturation (48)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--submissions", type=int, default=200, help="per saturation run (default 200)")
    size.add_argument("--duration", type=float, help="seconds per saturation run, instead of --submissions")
    parser.add_argument(
        "--latency-submissions",
        type=int,
        help="open-loop submissions at half load (default: as many as "
        "--submissions, or the half rate × --duration)",
    )
    parser.add_argument("--intake-calls", type=int, default=200, help="submit calls per intake run (200)")
    parser.add_argument("--workers", type=int, default=1, help="xgw worker processes, scale-out (1)")
    parser.add_argument("--bound-processes", type=int, default=2, help="processes of the crypto bound (2)")
    parser.add_argument("--bound-seconds", type=float, default=3.0, help="window of the crypto bound (3 s)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed submissions after start (10)")
    parser.add_argument(
        "--poll-first", type=float, default=0.05, help="saturation: first event-log poll after (0.05 s)"
    )
    parser.add_argument(
        "--poll-max", type=float, default=0.5, help="saturation: longest poll interval, ×1.5 each (0.5 s)"
    )
    parser.add_argument(
        "--latency-poll", type=float, default=0.025, help="half load: fixed event-log poll interval (0.025 s)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where <stack>.json goes")
    return parser.parse_args(argv)


def start_minimal(stack: Stack) -> tuple[Proc, str]:
    port = free_port()
    env = {
        "BENCH_MINIMAL_DIR": str(stack.root / "minimal"),
        "BENCH_MINIMAL_DESTINATION": DESTINATION,
        **({"BENCH_MINIMAL_DSN": stack.database_dsn} if stack.database_dsn else {}),
    }
    argv = [sys.executable, "-m", "uvicorn", "--app-dir", str(KIT), "minimal_app:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--http", "httptools"]
    argv += ["--no-access-log", "--log-level", "warning"]
    return spawn("minimal", argv, env, stack.root), f"http://127.0.0.1:{port}"


def cpu_groups(stack: Stack, kind: str) -> dict[str, Any]:
    groups: dict[str, Any] = {proc.name: (lambda p=proc: [p.pid]) for proc in stack.procs}
    if kind == "scale-out":
        groups["rabbitmq"] = lambda: procs.pids_named("beam.smp")
        groups["postgres"] = lambda: procs.postgres_pids(stack.database or "")
    groups["bench-client"] = lambda: [os.getpid()]
    return groups


def client(url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits)


async def submit_to(sender: BenchSender, api: httpx.AsyncClient | None, prepared: Prepared) -> None:
    await sender.put_submit(prepared, api)


async def measure_intake(
    stack: Stack,
    intake: BenchSender,
    sender: BenchSender,
    minimal: Proc,
    minimal_api: httpx.AsyncClient,
    samples: Samples,
    args: argparse.Namespace,
    run: int,
) -> dict[str, float]:
    """Submit calls per second and CPU ms per call: the gateway's intake process, the minimal app."""
    stack.pause_background()
    try:
        prepared: list[Prepared] = []

        async def prepare(_: int) -> None:
            prepared.append(await intake.prepare(samples.next()))

        await bounded(args.senders, range(args.intake_calls), prepare)
        out: dict[str, float] = {}
        targets = [("gateway", stack.intake_procs[0], None), ("minimal", minimal, minimal_api)]
        for name, proc, api in targets if run % 2 == 0 else targets[::-1]:
            meter = procs.CpuMeter({name: lambda p=proc: [p.pid]})
            meter.start()
            seconds = await bounded(args.senders, prepared, functools.partial(submit_to, intake, api))
            cpu = meter.stop()[name]
            out[name] = round(len(prepared) / seconds, 1)
            out[f"{name}_cpu_ms"] = round(cpu / len(prepared) * 1e3, 2)
    finally:
        stack.resume_background()
    if stack.kind == "scale-out":  # the relay was paused: let the stages finish before the next run
        await wait_all_accepted(sender, [p.case_id for p in prepared])
    return out


async def bench_stack(kind: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine = procs.machine()
    stack = Stack(kind, work / kind, workers=args.workers if kind == "scale-out" else 1)
    print(f"\n== {kind}: starting", flush=True)
    try:
        await stack.start()
    except BaseException:
        await stack.stop(keep=args.keep)
        raise
    minimal, minimal_url = start_minimal(stack)
    meter = CryptoBoundMeter(stack.root / "keys", DESTINATION, args.bound_processes)
    connections = args.senders * 2 + 4  # a sender's submit and its polls may overlap with another's
    api, intake_api, minimal_api = (
        client(stack.base_url, connections),
        client(stack.intake_url, connections),
        client(minimal_url, connections),
    )
    poll = (args.poll_first, args.poll_max)
    try:
        await wait_healthy(minimal, minimal_url)
        sender = BenchSender(api, CLIENT_ID, CLIENT_SECRET, DESTINATION)
        intake = BenchSender(intake_api, CLIENT_ID, CLIENT_SECRET, DESTINATION)
        samples = Samples()
        warm = await saturate(sender, samples, min(args.senders, 4), args.warmup, None, poll)
        if warm.errors:
            raise RuntimeError(f"warm-up failed: {warm.errors[:3]}")
        await intake.prepare(samples.next())  # token, key lookup, schema of the intake process
        runs: list[dict[str, Any]] = []
        for run in range(args.runs):
            bound = await meter.measure(args.bound_seconds)
            cpu = procs.CpuMeter(cpu_groups(stack, kind))
            cpu.start()
            began = time.monotonic()
            phase = await saturate(sender, samples, args.senders, args.submissions, args.duration, poll)
            used, wall = cpu.stop(), time.monotonic() - began
            stack.check_alive()
            half = phase.rate / 2
            count = args.latency_submissions or (
                int(half * args.duration) if args.duration else args.submissions or 1
            )
            fixed = (args.latency_poll, args.latency_poll)
            latency = await open_loop(sender, samples, half, max(count, 1), fixed) if half > 0 else None
            intake_figures = await measure_intake(
                stack, intake, sender, minimal, minimal_api, samples, args, run
            )
            record = {
                "run": run + 1,
                "throughput": round(phase.rate, 2),
                "bound": round(bound.per_second, 1),
                "bound_crypto_ms_per_submission": round(bound.ms_per_submission, 2),
                "ratio": ratio(phase.rate, bound.per_second),
                "saturation": {
                    "submissions": len(phase.outcomes),
                    "counted": phase.counted,
                    "seconds": round(phase.seconds, 2),
                    "errors": phase.errors[:5],
                    "error_count": len(phase.errors),
                    "polls_per_submission": round(sum(o.polls for o in phase.ok) / max(len(phase.ok), 1), 1),
                },
                "cpu_ms": cpu_ms_per_submission(used, len(phase.ok)),
                "cpu_busy_fraction": busy_fraction(used, wall),
                "half_load_rate": round(half, 2),
                "latency_ms": latency_summary([o.latency for o in latency.ok])
                if latency and latency.ok
                else {},
                "latency_submissions": len(latency.outcomes) if latency else 0,
                "latency_errors": len(latency.errors) if latency else 0,
                "latency_polls_per_submission": round(
                    sum(o.polls for o in latency.ok) / max(len(latency.ok), 1), 1
                )
                if latency
                else 0,
                "intake": intake_figures,
            }
            runs.append(record)
            print_run(kind, record)
        peak = {proc.name: procs.peak_rss_mib(proc.pid) for proc in (*stack.procs, *stack.intake_procs)}
        peak["minimal"] = procs.peak_rss_mib(minimal.pid)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        settings["stack_processes"] = [proc.name for proc in stack.procs]
        return summarize(
            kind,
            runs,
            settings=settings,
            peak_rss_mib=peak,
            machine=machine,
            git_commit=procs.git_commit(ROOT),
            started_at=started_at,
        )
    finally:
        for http in (api, intake_api, minimal_api):
            await http.aclose()
        meter.close()
        minimal.stop()
        await stack.stop(keep=args.keep)


def busy_fraction(used: dict[str, float], wall: float) -> float:
    """CPU seconds of every measured process over the cores' capacity in the saturation phase."""
    return round(sum(used.values()) / (wall * (os.cpu_count() or 1)), 2) if wall > 0 else 0.0


def print_run(kind: str, run: dict[str, Any]) -> None:
    lat = run["latency_ms"] or {}
    intake = run["intake"]
    sat = run["saturation"]
    print(
        f"{kind} run {run['run']}: {run['throughput']}/s ({sat['counted']} in {sat['seconds']} s, "
        f"{sat['error_count']} errors, {sat['polls_per_submission']} polls each); "
        f"bound {run['bound']}/s; "
        f"ratio {run['ratio']}; at {run['half_load_rate']}/s p50 {lat.get('p50')} p90 {lat.get('p90')} "
        f"p99 {lat.get('p99')} ms; submit call {intake.get('gateway')}/s "
        f"vs minimal {intake.get('minimal')}/s; cores busy {run['cpu_busy_fraction']}",
        flush=True,
    )
    if run["cpu_busy_fraction"] < 0.8:
        print(
            f"  note: the measured processes used {run['cpu_busy_fraction']:.0%} of the cores at "
            "saturation: lock waits or latency limit the stack, or --senders is too low",
            flush=True,
        )


def print_summary(result: dict[str, Any]) -> None:
    runs = result["runs"]
    spread = f"{min(r['throughput'] for r in runs)}–{max(r['throughput'] for r in runs)}"
    lat = result["latency_ms_at_half_load"]
    intake = result["intake"]
    lines = [
        f"\n=== {result['stack']} ({len(runs)} runs, medians; commit {result['git_commit']})",
        f"throughput at saturation   {result['throughput_per_s']}/s  (runs {spread})",
        f"crypto bound               {result['crypto_bound_per_s']}/s  "
        f"({result['settings']['bound_processes']} processes × 3 RSA-4096 unwraps + 3 PS512 signatures)",
        f"ratio to the bound         {result['ratio_to_bound']}",
        f"submit → accept at half    p50 {lat.get('p50')}  p90 {lat.get('p90')}  p99 {lat.get('p99')}  "
        f"max {lat.get('max')} ms",
        f"submit call                gateway {intake.get('gateway')}/s "
        f"({intake.get('gateway_cpu_ms')} ms CPU), "
        f"minimal app {intake.get('minimal')}/s ({intake.get('minimal_cpu_ms')} ms CPU), "
        f"ratio {intake.get('ratio')}",
        "CPU ms per submission      "
        + ", ".join(f"{name} {ms}" for name, ms in result["cpu_ms_per_submission"].items()),
        "peak RSS MiB               "
        + ", ".join(f"{name} {mib}" for name, mib in result["peak_rss_mib"].items()),
    ]
    print("\n".join(lines), flush=True)


def write_result(directory: Path, result: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result['stack']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path


async def main_async(args: argparse.Namespace, work: Path) -> None:
    kinds = ["embedded", "scale-out"] if args.stack == "both" else [args.stack]
    for kind in kinds:
        result = await bench_stack(kind, args, work)
        path = write_result(args.results, result)
        print_summary(result)
        print(f"written to {path}", flush=True)


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="xgw-e2e-"))
    try:
        asyncio.run(main_async(args, work))
    finally:
        if args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
