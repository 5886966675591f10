"""Scale-out (issue "Speed and deployment", item 6): two ``xgw api``, two ``xgw relay`` and two
``xgw worker`` processes, all started at the same moment on a new PostgreSQL database and one
RabbitMQ namespace, as a rollout of deploy/compose.yaml or deploy/kubernetes starts them. 300
real submissions go in over HTTP, half through each api; every one is delivered exactly once
(one vendor effect, one ``accept-submission``), and every process did its share."""

from __future__ import annotations

import asyncio
import collections
import time

import pytest

from tests.faults.checker import (
    History,
    check,
    send_submissions,
    settled_lines,
    wait_final,
    wait_outbox_sent,
    wait_queues,
)
from tests.faults.cluster import free_port
from tests.faults.conftest import RigFactory
from tests.faults.scenario import Capture

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.timeout(240)]

SUBMISSIONS = 300
PER_API_CONCURRENCY = 4


async def test_two_of_each_process_deliver_every_submission_exactly_once(
    rig_factory: RigFactory, capsys: Capture
) -> None:
    rig = await rig_factory()
    cluster = rig.cluster
    started = time.monotonic()
    stages = [cluster.spawn_stage(role) for role in ("relay", "relay", "worker", "worker")]
    second_port = free_port()
    apis = await asyncio.gather(cluster.start_api(), cluster.start_api(port=second_port))
    await cluster.wait_started(*stages)
    boot = time.monotonic() - started

    history = History()
    urls = [cluster.base_url, f"http://127.0.0.1:{second_port}"]
    half = SUBMISSIONS // 2
    await asyncio.gather(*(send_submissions(url, half, history, PER_API_CONCURRENCY) for url in urls))
    ids = list(history.accepted)
    statuses = await wait_final(rig.dsn, ids, 60.0)
    pending = await wait_outbox_sent(rig.dsn, 30.0)
    queues = await wait_queues(rig.namespace, rig.work_queues, 30.0)
    settled = settled_lines(cluster.log_lines("worker"))
    result = await check(
        "scale-out 2 api, 2 relay, 2 worker",
        rig.dsn,
        history,
        rig.vendor,
        settled,
        started,
        [f"boot={boot:.1f}s"],
    )
    with capsys.disabled():
        print(f"\n{result.line()}")

    problems = result.problems()
    if pending:
        problems.append(f"{pending} outbox rows still pending")
    if set(statuses) - {"delivered"}:
        problems.append(f"not all delivered: {statuses}")
    if any(q["messages"] for q in queues.values()):
        problems.append(f"queues not empty at the end: {queues}")
    problems += [f"{p.name} exited" for p in cluster.procs if not p.alive()]
    assert not problems, "\n".join([*problems, *cluster.errors()[:20]])
    assert result.sent == SUBMISSIONS and result.delivered == SUBMISSIONS
    assert sum(rig.vendor.effects.values()) == SUBMISSIONS  # one effect each, none for anything else

    # Every process did its share: each api accepted submissions, each relay published, each
    # worker settled messages.
    served = collections.Counter(
        p.name for p in apis for line in p.log_text().splitlines() if '"submission_submitted"' in line
    )
    published = collections.Counter(
        e["_proc"] for e in cluster.log_lines("relay") if e.get("event") == "relay_batch_published"
    )
    consumed = collections.Counter(e["_proc"] for e in settled)
    assert len(published) == 2 and len(consumed) == 2, (published, consumed)
    assert sorted(served.values()) == [half, half], served
