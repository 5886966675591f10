"""One fault scenario from start to verdict: start the processes (``xgw api``, ``xgw relay``, two
``xgw worker``), send submissions over HTTP while a nemesis strikes, wait until everything settled,
run the checker and assert its verdict (see :mod:`tests.faults.checker`)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.faults.checker import (
    History,
    Result,
    check,
    send_submissions,
    settled_lines,
    verified_event_names,
    wait_final,
    wait_outbox_sent,
    wait_queues,
)
from tests.faults.conftest import FaultRig

Nemesis = Callable[[FaultRig, History], Awaitable[list[str]]]
Capture = pytest.CaptureFixture[str]

CONCURRENCY = 8


async def run_scenario(
    rig: FaultRig,
    name: str,
    nemesis: Nemesis,
    capsys: Capture,
    submissions: int,
    *,
    history: History | None = None,
    final_within: float = 120.0,
) -> Result:
    """Run ``nemesis`` while ``submissions`` go in (all of them: the sender never stops early),
    then assert: every accepted submission delivered with one vendor effect and an event log
    ending in ``accept-submission``, nothing lost or unexpected, no outbox row pending, the work
    queues empty and consumed, no process exited on its own. Prints the checker's summary line."""
    cluster = rig.cluster
    started = time.monotonic()
    await cluster.start_api()
    await cluster.wait_started(
        cluster.spawn_stage("relay"), cluster.spawn_stage("worker"), cluster.spawn_stage("worker")
    )
    boot = time.monotonic() - started
    history = history or History()
    sending = asyncio.create_task(send_submissions(cluster.base_url, submissions, history, CONCURRENCY))
    try:
        notes = await nemesis(rig, history)
    finally:
        await sending
    ids = list(history.accepted)
    statuses = await wait_final(rig.dsn, ids, final_within)
    pending = await wait_outbox_sent(rig.dsn, 30.0)  # a trapped row waits for its lease (15 s)
    queues = await wait_queues(rig.namespace, rig.work_queues, 30.0)
    result = await check(
        name,
        rig.dsn,
        history,
        rig.vendor,
        settled_lines(cluster.log_lines("worker")),
        started,
        [f"boot={boot:.1f}s", *notes],
    )
    sample = random.Random(0).sample(sorted(history.accepted.items()), min(3, len(history.accepted)))
    logs = {sid: await verified_event_names(cluster.base_url, case) for sid, case in sample}
    with capsys.disabled():
        print(f"\n{result.line()}")
    problems = result.problems()
    problems += [
        f"event log of {sid} over HTTP: {names}"
        for sid, names in logs.items()
        if names != ["create-submission", "submit-submission", "accept-submission"]
    ]
    if pending:
        problems.append(f"{pending} outbox rows still pending")
    for queue in rig.work_queues:
        if queues.get(queue, {}).get("consumers", 0) < 1:
            problems.append(f"no consumer on {queue} at the end: {queues}")
    if any(q["messages"] for q in queues.values()):
        problems.append(f"queues not empty at the end: {queues}")
    if set(statuses) - {"delivered"}:
        problems.append(f"not all delivered after {final_within}s: {statuses}")
    for proc in cluster.procs:
        if proc.popen.returncode is None and not proc.alive():
            problems.append(f"{proc.name} exited on its own")
    assert not problems, "\n".join([*problems, *cluster.errors()[:20]])
    assert result.sent == submissions
    return result
