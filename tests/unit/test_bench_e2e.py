"""The pure parts of ``bench/e2e.py``: percentiles, the crypto-bound arithmetic, the result shape."""

from __future__ import annotations

import json

import pytest

from bench.e2e_kit.stats import (
    RESULT_KEYS,
    SIGNATURES_PER_SUBMISSION,
    UNWRAPS_PER_SUBMISSION,
    bound_from_counts,
    cpu_ms_per_submission,
    latency_summary,
    median_by_key,
    percentile,
    ratio,
    summarize,
)


def test_percentile_interpolates_between_closest_ranks_like_numpy() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 90) == pytest.approx(4.6)
    assert percentile([1.0, 2.0], 99) == pytest.approx(1.99)
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_no_values_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([i / 1000 for i in range(1, 101)])  # 1 … 100 ms
    assert summary == {"p50": 50.5, "p90": 90.1, "p99": 99.0, "max": 100.0}


def test_the_unavoidable_crypto_per_submission_is_three_unwraps_and_three_signatures() -> None:
    assert (UNWRAPS_PER_SUBMISSION, SIGNATURES_PER_SUBMISSION) == (3, 3)


def test_crypto_bound_sums_the_processes_over_the_window() -> None:
    bound = bound_from_counts([90, 110], seconds=2.0)
    assert bound.processes == 2
    assert bound.per_second == 100.0
    assert bound.ms_per_submission == 20.0  # 2 processes × 2 s of CPU for 200 units
    assert ratio(50.0, bound.per_second) == 0.5
    assert ratio(1.0, 0.0) is None
    with pytest.raises(ValueError):
        bound_from_counts([], 1.0)


def test_cpu_per_submission_by_process() -> None:
    assert cpu_ms_per_submission({"api": 1.5, "worker1": 0.25}, 50) == {"api": 30.0, "worker1": 5.0}
    assert cpu_ms_per_submission({"api": 1.0}, 0) == {}
    assert median_by_key([{"a": 1.0, "b": 4.0}, {"a": 3.0}, {"a": 2.0, "b": 6.0}]) == {"a": 2.0, "b": 5.0}


def _run(throughput: float, bound: float, gateway: float, minimal: float) -> dict[str, object]:
    return {
        "throughput": throughput,
        "bound": bound,
        "latency_ms": {"p50": throughput, "p90": 2 * throughput, "p99": 3 * throughput, "max": 4.0},
        "cpu_ms": {"serve": 90.0},
        "intake": {"gateway": gateway, "minimal": minimal, "gateway_cpu_ms": 10.0, "minimal_cpu_ms": 1.0},
    }


def test_result_document_has_every_key_medians_and_per_run_ratios() -> None:
    runs = [_run(10.0, 100.0, 50.0, 100.0), _run(30.0, 100.0, 60.0, 100.0), _run(12.0, 60.0, 10.0, 100.0)]
    doc = summarize("embedded", runs, peak_rss_mib={"serve": 170.0}, git_commit="abc", machine={"cpus": 2})
    assert tuple(doc) == RESULT_KEYS
    assert doc["throughput_per_s"] == 12.0
    assert doc["crypto_bound_per_s"] == 100.0
    assert doc["ratio_to_bound"] == 0.2  # per-run ratios 0.1, 0.3, 0.2: their median
    assert doc["latency_ms_at_half_load"]["p99"] == 36.0
    assert doc["cpu_ms_per_submission"] == {"serve": 90.0}
    assert doc["intake"]["ratio"] == 0.5  # per-run 0.5, 0.6, 0.1
    assert doc["intake"]["gateway"] == 50.0
    assert json.loads(json.dumps(doc)) == doc
    with pytest.raises(ValueError):
        summarize("embedded", [])
