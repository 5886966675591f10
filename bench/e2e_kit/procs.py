"""CPU time and peak memory of processes, read from ``/proc``; the machine and the commit."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) in seconds; 0.0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def peak_rss_mib(pid: int) -> float | None:
    """The process's high-water mark of resident memory (``VmHWM``) in MiB, if still readable."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmHWM:\s+(\d+)", text)
    return round(int(found.group(1)) / 1024, 1) if found else None


def pids_named(comm: str) -> list[int]:
    """Processes whose ``comm`` is ``comm`` (e.g. ``beam.smp``), read only."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == comm:
                    pids.append(int(entry.name))
    return pids


def postgres_pids(database: str) -> list[int]:
    """PostgreSQL backends of ``database`` plus the shared auxiliary processes."""
    out = []
    for pid in pids_named("postgres"):
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "(" not in title or f" {database} " in title:
                out.append(pid)
    return out


class CpuMeter:
    """CPU seconds per named group of processes between :meth:`start` and :meth:`stop`.

    ``groups`` maps a name ("api", "worker1", "broker") to a function giving its pids now;
    processes that appear in between count from zero.
    """

    def __init__(self, groups: Mapping[str, Any]) -> None:
        self.groups = groups
        self._before: dict[str, dict[int, float]] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        out = {}
        for name, now in after.items():
            before = self._before.get(name, {})
            out[name] = sum(value - before.get(pid, 0.0) for pid, value in now.items())
        return out


def machine() -> dict[str, Any]:
    """CPU model and count, memory, kernel, Python and the crypto library's OpenSSL."""
    from cryptography.hazmat.backends.openssl import backend

    model = ""
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = found.group(1).strip() if found else ""
    mem_kib = 0
    with contextlib.suppress(OSError, AttributeError):
        mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    load = os.getloadavg()
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "openssl": backend.openssl_version_text(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def git_commit(root: Path) -> str | None:
    """HEAD of the checkout at ``root``, with ``-dirty`` when it has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")
