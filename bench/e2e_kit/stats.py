"""The arithmetic of the end-to-end benchmark: percentiles, medians, the crypto bound, the result.

Pure functions only, so that a unit test can pin them without running anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The cryptography a submission cannot do without, counted from the flow (see the README):
#: the validate stage unwraps the content key of metadata, data and the one attachment
#: (RSA-OAEP-256, RSA-4096), and three SETs are signed with PS512 (create-submission and
#: submit-submission by intake, accept-submission by the delivery stage).
UNWRAPS_PER_SUBMISSION = 3
SIGNATURES_PER_SUBMISSION = 3

#: Top-level keys every ``bench/results/<stack>.json`` has.
RESULT_KEYS = (
    "stack",
    "settings",
    "runs",
    "throughput_per_s",
    "crypto_bound_per_s",
    "ratio_to_bound",
    "latency_ms_at_half_load",
    "cpu_ms_per_submission",
    "peak_rss_mib",
    "intake",
    "machine",
    "git_commit",
    "started_at",
)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation between closest ranks
    (numpy's default, "type 7"); ``ValueError`` for an empty sequence or ``q`` outside 0–100."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0–100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max in milliseconds of latencies given in seconds."""
    return {
        "p50": round(percentile(seconds, 50) * 1e3, 1),
        "p90": round(percentile(seconds, 90) * 1e3, 1),
        "p99": round(percentile(seconds, 99) * 1e3, 1),
        "max": round(max(seconds) * 1e3, 1),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class CryptoBound:
    """What ``processes`` processes did of the per-submission crypto in ``seconds``.

    ``units`` counts completed submissions' worth of crypto (each unit is
    :data:`UNWRAPS_PER_SUBMISSION` unwraps and :data:`SIGNATURES_PER_SUBMISSION` signatures),
    summed over the processes, each of which ran for ``seconds``.
    """

    processes: int
    units: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Submissions per second the crypto alone allows on these processes together."""
        return self.units / self.seconds

    @property
    def ms_per_submission(self) -> float:
        """CPU milliseconds of crypto per submission (one process does one unit at a time)."""
        return self.processes * self.seconds / self.units * 1e3


def bound_from_counts(counts: Sequence[int], seconds: float) -> CryptoBound:
    """The bound from each process's completed units within the same ``seconds`` window."""
    if seconds <= 0 or not counts:
        raise ValueError("a crypto bound needs processes and a positive duration")
    return CryptoBound(processes=len(counts), units=sum(counts), seconds=seconds)


def ratio(value: float, baseline: float) -> float | None:
    """``value / baseline`` rounded to 3 places, ``None`` when there is no baseline."""
    return round(value / baseline, 3) if baseline > 0 else None


def cpu_ms_per_submission(cpu_seconds: Mapping[str, float], submissions: int) -> dict[str, float]:
    """CPU milliseconds per submission for each process name (``{}`` for no submissions)."""
    if submissions <= 0:
        return {}
    return {name: round(seconds / submissions * 1e3, 2) for name, seconds in cpu_seconds.items()}


def median_by_key(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per key, the median over the rows that have it (process names can differ per run)."""
    keys = sorted({key for row in rows for key in row})
    return {key: round(median([row[key] for row in rows if key in row]), 2) for key in keys}


def summarize(stack: str, runs: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    """The result document of one stack from its per-run records.

    Each run record has ``throughput`` (submissions/s), ``bound`` (submissions/s),
    ``latency_ms`` (from :func:`latency_summary`), ``cpu_ms`` (process → ms per submission) and
    ``intake`` (``gateway`` and ``minimal`` calls/s and ``gateway_cpu_ms`` / ``minimal_cpu_ms``).
    ``extra`` supplies ``settings``, ``peak_rss_mib``, ``machine``, ``git_commit`` and
    ``started_at``. The headline figures are medians over the runs; the ratio is the median of
    the per-run ratios (each against the bound of its own run).
    """
    if not runs:
        raise ValueError("no runs to summarize")
    latency = median_by_key([run["latency_ms"] for run in runs])
    intake_runs = [run["intake"] for run in runs if run.get("intake")]
    intake: dict[str, Any] = {}
    if intake_runs:
        intake = dict(median_by_key(intake_runs))
        ratios = [r for run in intake_runs if (r := ratio(run["gateway"], run["minimal"])) is not None]
        intake["ratio"] = round(median(ratios), 3) if ratios else None
    per_run_ratio = [r for run in runs if (r := ratio(run["throughput"], run["bound"])) is not None]
    document = {
        "stack": stack,
        "settings": extra.get("settings", {}),
        "runs": list(runs),
        "throughput_per_s": round(median([run["throughput"] for run in runs]), 2),
        "crypto_bound_per_s": round(median([run["bound"] for run in runs]), 1),
        "ratio_to_bound": round(median(per_run_ratio), 3) if per_run_ratio else None,
        "latency_ms_at_half_load": latency,
        "cpu_ms_per_submission": median_by_key([run["cpu_ms"] for run in runs]),
        "peak_rss_mib": extra.get("peak_rss_mib", {}),
        "intake": intake,
        "machine": extra.get("machine", {}),
        "git_commit": extra.get("git_commit"),
        "started_at": extra.get("started_at"),
    }
    missing = [key for key in RESULT_KEYS if key not in document]
    assert not missing, missing  # the document and RESULT_KEYS are kept in step
    return document
