"""Loss-and-duplicate checker under faults (issue "Delivery fabric", done-when #2;
SECURITY-CASES F4, F5, F12, F20).

The gateway runs as separate processes (``xgw api``, ``xgw relay``, two ``xgw worker``) on real
RabbitMQ and PostgreSQL; 300 real submissions go in over HTTP while a nemesis strikes:

(a) RabbitMQ ``stop_app`` for a few seconds, then ``start_app``;
(b) a worker SIGKILLed while the vendor holds one of its POSTs (effect done, not yet acked),
    then a new worker — twice;
(c) the relay SIGKILLed between publish-confirm and mark-sent (trapped with a row lock, see
    :func:`tests.faults.nemesis.trap_relay`), then a new relay — twice, the second time on the
    new relay's first (burst) batch.

Every accepted submission must end ``delivered`` with exactly one vendor effect and an event log
ending in ``accept-submission``; nothing lost, nothing unexpected; duplicates at the broker are
allowed, counted and shown in the summary line; the work queues are empty and consumed at the end.
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.faults.checker import History
from tests.faults.cluster import Proc
from tests.faults.conftest import FaultRig, RigFactory
from tests.faults.nemesis import kill_worker_mid_delivery, stop_broker, trap_relay, until
from tests.faults.scenario import Capture, run_scenario

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.timeout(420)]

SUBMISSIONS = 300  #: as many as the independent fault runs sent; enough to strike mid-flow twice


async def test_broker_stop_app_mid_run(rig_factory: RigFactory, capsys: Capture) -> None:
    """(a) F5/F6: RabbitMQ's app stops for a few seconds while submissions flow."""
    rig = await rig_factory()

    async def nemesis(rig: FaultRig, history: History) -> list[str]:
        await until(
            lambda: len(history.accepted) >= 100 and len(rig.vendor.effects) >= 40,
            90,
            "100 accepted / 40 delivered",
        )
        in_flight = len(history.accepted) - len(rig.vendor.effects)
        accepted = len(history.accepted)
        timing = await stop_broker(5.0)
        return [
            f"at {accepted} accepted, ~{in_flight} in the pipeline: {timing}",
            f"accepted while the broker was away: {len(history.accepted) - accepted}",
        ]

    await run_scenario(rig, "a: broker stop_app", nemesis, capsys, SUBMISSIONS)
    # The fault was felt: every consumer lost its subscription and got it back.
    lines = rig.cluster.log_lines("worker")
    lost = sum(1 for e in lines if e.get("event") == "consumer_subscription_lost")
    back = sum(1 for e in lines if e.get("event") == "consumer_resubscribed")
    assert lost >= 6 and back >= 6, (lost, back)  # 2 workers x (process, callbacks, deliver)


async def test_worker_sigkill_mid_delivery(rig_factory: RigFactory, capsys: Capture) -> None:
    """(b) F12: a worker dies after the vendor's side effect, before its ack."""
    rig = await rig_factory(vendor_delay=0.1)

    async def nemesis(rig: FaultRig, history: History) -> list[str]:
        notes = []
        for threshold in (90, 200):
            await until(partial(reached, history, threshold), 120, f"{threshold} accepted")
            kill = await kill_worker_mid_delivery(rig.cluster, rig.vendor)
            notes.append(
                f"SIGKILL {kill.killed} at {threshold} accepted with {kill.in_flight_at_kill} "
                f"vendor POSTs in flight → {kill.replacement}"
            )
        return notes

    result = await run_scenario(rig, "b: worker SIGKILL", nemesis, capsys, SUBMISSIONS)
    # The window was hit: each killed worker had a POST whose effect was recorded but whose answer
    # it never saw; its message came back (redelivered) and was POSTed again, absorbed by the vendor.
    assert result.vendor_extra_posts >= 2 and result.redeliveries >= 2, result.line()


async def test_relay_sigkill_between_confirm_and_mark_sent(rig_factory: RigFactory, capsys: Capture) -> None:
    """(c) F4: the relay dies after the broker confirmed a batch, before it marked it sent."""
    rig = await rig_factory(XGW_DELIVERY__RELAY_BATCH_SIZE=str(SUBMISSIONS))
    trapped: set[int] = set()

    async def nemesis(rig: FaultRig, history: History) -> list[str]:
        cluster = rig.cluster
        await until(lambda: len(history.accepted) >= 100, 120, "100 accepted")
        (relay,) = cluster.running("relay")
        first = await trap_relay(relay, rig.dsn, hold=2.0)
        # The next relay's first batch is the backlog built up while none ran: trap that burst too.
        burst_relay = cluster.spawn_stage("relay")
        second = await trap_relay(burst_relay, rig.dsn, ignore=frozenset(first))
        replacement = await cluster.start_stage("relay")
        trapped.update(first | second)
        return [
            f"SIGKILL {relay.name} with {len(first)} rows published+confirmed, not marked",
            f"SIGKILL {burst_relay.name} with {len(second)} rows published+confirmed, not marked "
            f"({'its first batch' if first_batch(burst_relay) is None else 'a later batch'})",
            f"→ {replacement.name}",
        ]

    result = await run_scenario(rig, "c: relay SIGKILL before mark_sent", nemesis, capsys, SUBMISSIONS)
    # Every trapped row was claimed again and published a second time.
    assert trapped
    assert result.outbox_reclaimed >= len(trapped) and result.republished >= len(trapped), result.line()


def reached(history: History, count: int) -> bool:
    return len(history.accepted) >= count


def first_batch(relay: Proc) -> int | None:
    """Rows of the relay's first batch as it logged it (None: killed before logging one)."""
    for line in relay.log_text().splitlines():
        if '"relay_batch_published"' in line:
            return int(json.loads(line)["fetched"])
    return None
