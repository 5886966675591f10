"""The parts of ``bench/e2e.py``: stacks, sender load, the crypto bound, the minimal intake app.

Only :mod:`bench.e2e_kit.stats` is pure (no I/O, no timing); ``tests/unit/test_bench_e2e.py``
checks it. The other modules start processes and talk to 127.0.0.1 only.
"""
