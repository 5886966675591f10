"""The deliver stage's claim under faults, against the gateway as separate processes (``xgw api``,
``xgw relay``, ``xgw worker``) on real RabbitMQ and PostgreSQL, with a slow vendor.

What a fault run found before the deliver stage claimed submissions:

* a submission stayed ``validated`` for good when the worker's broker connection dropped more
  often than the broker's ``x-delivery-limit`` while its vendor call was in flight (the call was
  cancelled mid-POST, the message came back, was POSTed again, and after the limit RabbitMQ
  dead-lettered it while the database never changed): "6 proxy resets 4 s apart, vendor answering
  after 20 s: 10 of 20 stuck";
* nothing claimed a submission before the vendor was called, so two copies of one delivery
  message (a publish retried after a stall) POSTed to the vendor 30–100 ms apart.

The scenarios here:

1. the worker's broker connection (only that one: it goes through a TCP proxy) is cut more often
   than the delivery limit while vendor calls are in flight; every submission must end
   ``delivered`` (one ``accept-submission``) or ``parked`` with its reason recorded, none stays
   ``submitted``/``validated``, and the vendor never has two POSTs of one submission at once;
2. a second copy of a submission's ``deliver:<id>`` message is published while the vendor call of
   the first is in flight: it must wait for the claim, not call the vendor;
3. two copies published back to back before either is handled (the relay's publish retried
   after a stall), then the relay's own: one vendor POST.

Each prints one summary line.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aio_pika
import asyncpg
import pytest

from gateway.broker.base import ATTEMPT_HEADER, CONTENT_TYPE, encode_envelope
from tests.conftest import ACTIVE
from tests.faults.checker import (
    ACCEPT,
    History,
    listed_queues,
    send_submissions,
    settled_lines,
    wait_final,
    wait_outbox_sent,
    waited_for_claim,
)
from tests.faults.cluster import overlapping
from tests.faults.conftest import FaultRig, RigFactory
from tests.faults.nemesis import WorkerLink, cut_link_during_vendor_calls, until
from tests.integration.delivery.conftest import AMQP_URL

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(300),
]

Capture = pytest.CaptureFixture[str]

#: The vendor answers this long after it recorded the effect; the adapter and the deliver stage
#: wait longer than that, so no call times out: every POST of a key after the first is a repeat.
VENDOR_DELAY = 10.0
ADAPTER_TIMEOUT = 30.0
DELIVER_TIMEOUT = "30"
DELIVERY_LIMIT = 2
CUTS = 6  # more than DELIVERY_LIMIT
HOLD = 1.5  # seconds the link is blackholed before each cut
SUBMISSIONS = 20
FINAL_WITHIN = 120.0


@dataclass
class Facts:
    """What the database says about some submissions."""

    status: dict[str, str]
    events: dict[str, list[str]]
    parked: dict[str, list[tuple[str, str]]]  # submission id → (queue, reason) of its parked_messages
    attempts: dict[str, list[str]]  # submission id → outcomes of its delivery_attempts rows
    claimed: list[str]  # submissions whose claim was never released

    def count(self, status: str) -> int:
        return sum(1 for s in self.status.values() if s == status)

    def outcomes(self) -> dict[str, int]:
        return dict(collections.Counter(o for outcomes in self.attempts.values() for o in outcomes))


async def read_facts(dsn: str, ids: Iterable[str]) -> Facts:
    wanted = list(ids)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, status, claimed_until FROM submissions WHERE id = ANY($1::text[])", wanted
        )
        events = await connection.fetch(
            "SELECT submission_id, event FROM events WHERE submission_id = ANY($1::text[]) ORDER BY id",
            wanted,
        )
        parked = await connection.fetch(
            "SELECT submission_id, queue, reason FROM parked_messages WHERE submission_id = ANY($1::text[]) "
            "ORDER BY id",
            wanted,
        )
        attempts = await connection.fetch(
            "SELECT submission_id, outcome FROM delivery_attempts WHERE submission_id = ANY($1::text[]) "
            "ORDER BY id",
            wanted,
        )
    finally:
        await connection.close()
    facts = Facts({r["id"]: r["status"] for r in rows}, {}, {}, {}, [])
    facts.claimed = sorted(r["id"] for r in rows if r["claimed_until"] is not None)
    for event in events:
        facts.events.setdefault(event["submission_id"], []).append(event["event"])
    for row in parked:
        facts.parked.setdefault(row["submission_id"], []).append((row["queue"], row["reason"]))
    for row in attempts:
        facts.attempts.setdefault(row["submission_id"], []).append(row["outcome"])
    return facts


async def wait_drained(namespace: str, queues: list[str], within: float) -> dict[str, dict[str, int]]:
    """Poll ``rabbitmqctl list_queues`` until ``queues`` hold no message (or ``within`` passed)."""
    deadline = time.monotonic() + within
    while True:
        listed = await listed_queues(namespace)
        if all(listed.get(q, {}).get("messages", 0) == 0 for q in queues) or time.monotonic() > deadline:
            return listed
        await asyncio.sleep(1.0)


def transit_queues(rig: FaultRig) -> list[str]:
    """Where a message waits to be worked on: the work queues, the delay queues, the dead letters."""
    topology = rig.topology
    delays = [topology.retry_queue(level) for level in range(len(topology.retry.delays_ms))]
    return [*topology.work_queues([ACTIVE]), *delays, topology.dead_queue]


def outcome_problems(facts: Facts, vendor_effects: dict[str, int], ids: list[str]) -> list[str]:
    """Every submission ``delivered`` (one accept event, the log ending in it) or ``parked`` with a
    stated reason (and no accept event); none left in between; every claim released."""
    problems = []
    for sid in ids:
        status, events = facts.status.get(sid), facts.events.get(sid, [])
        if status == "delivered":
            if events.count(ACCEPT) != 1 or events[-1:] != [ACCEPT]:
                problems.append(f"{sid} delivered with event log {events}")
        elif status == "parked":
            reasons = [reason for _, reason in facts.parked.get(sid, [])]
            if not reasons or not all(r.strip() for r in reasons):
                problems.append(f"{sid} parked without a recorded reason: {reasons}")
            if ACCEPT in events:
                problems.append(f"{sid} parked with an {ACCEPT} event: {events}")
        else:
            problems.append(
                f"{sid} is {status} (attempts {facts.attempts.get(sid)}, vendor effects "
                f"{vendor_effects.get(sid, 0)}, parked records {facts.parked.get(sid)})"
            )
    if facts.claimed:
        problems.append(f"claims never released: {facts.claimed}")
    return problems


def overlap_problems(rig: FaultRig) -> tuple[dict[str, int], list[str]]:
    """POSTs per key, and every pair of POSTs of one key that were at the vendor at once."""
    windows = rig.vendor.post_windows()
    posts = dict(collections.Counter(w.key for w in windows))
    problems = [
        f"two POSTs of {key} at once: "
        + ", ".join(f"[{a.started:.3f}, {a.ended:.3f}] & [{b.started:.3f}, {b.ended:.3f}]" for a, b in pairs)
        for key, pairs in overlapping(windows).items()
    ]
    return posts, problems


def settled_of(lines: list[dict[str, Any]], message_id: str) -> list[dict[str, Any]]:
    return [e for e in settled_lines(lines) if e.get("message_id") == message_id]


async def test_connection_cuts_during_slow_vendor_calls(rig_factory: RigFactory, capsys: Capture) -> None:
    """The worker's broker connection is cut more often than the delivery limit while slow vendor
    calls are in flight: nothing stays in between, nothing is POSTed twice at the same time."""
    rig = await rig_factory(
        vendor_delay=VENDOR_DELAY,
        adapter_timeout=ADAPTER_TIMEOUT,
        XGW_DELIVERY__DELIVERY_LIMIT=str(DELIVERY_LIMIT),
        XGW_DELIVERY__DELIVER_TIMEOUT_SECONDS=DELIVER_TIMEOUT,
    )
    cluster, deliver_queue = rig.cluster, rig.topology.deliver_queue(ACTIVE)
    link = WorkerLink(AMQP_URL)
    await link.start()
    started = time.monotonic()
    try:
        await cluster.start_api()
        worker = cluster.spawn_stage("worker", {"XGW_AMQP_URL": link.url})
        await cluster.wait_started(cluster.spawn_stage("relay"), worker)
        history = History()
        sending = asyncio.create_task(send_submissions(cluster.base_url, SUBMISSIONS, history, 8))
        try:
            cuts = await cut_link_during_vendor_calls(
                link, worker, rig.vendor, deliver_queue, CUTS, HOLD, within=60.0
            )
        finally:
            await sending
        ids = list(history.accepted)
        statuses = await wait_final(rig.dsn, ids, FINAL_WITHIN)
        queues = await wait_drained(rig.namespace, transit_queues(rig), 60.0)
        facts = await read_facts(rig.dsn, ids)
        lines = cluster.log_lines("worker")
        effects = dict(rig.vendor.effects)
        posts, overlaps = overlap_problems(rig)

        settled = settled_lines(lines)
        dead = [e for e in settled if e.get("queue") == rig.topology.dead_queue]
        dead_letters = collections.Counter(str(m).split(":")[0] for m in {e.get("message_id") for e in dead})
        # A park is recorded only for work that did not finish: never for a delivered submission.
        parked_after_all = {
            s: facts.parked[s] for s in ids if facts.status.get(s) == "delivered" and facts.parked.get(s)
        }
        in_parked_queues = sum(n["messages"] for q, n in queues.items() if ".parked." in q)
        summary = (
            f"[cuts during slow vendor calls] sent={len(ids)} http_failed={len(history.failed)} "
            f"delivered={facts.count('delivered')} parked={facts.count('parked')} "
            f"stuck={sum(1 for s in ids if facts.status.get(s) not in ('delivered', 'parked'))} "
            f"vendor_posts={sum(posts.values())} max_posts_per_key={max(posts.values(), default=0)} "
            f"overlapping={len(overlaps)} {cuts.line()} (delivery_limit={DELIVERY_LIMIT}, "
            f"vendor_delay={VENDOR_DELAY:g}s) "
            f"redeliveries={sum(1 for e in settled if e.get('redelivered'))} "
            f"claim_waits={sum(1 for e in settled if waited_for_claim(e))} "
            f"dead_letters={dict(dead_letters)} "
            f"dead_outcomes={dict(collections.Counter(e.get('outcome') for e in dead))} "
            f"park_records_of_delivered={len(parked_after_all)} "
            f"(rows {sum(len(r) for r in parked_after_all.values())}) "
            f"parked_queue_messages={in_parked_queues} "
            f"settle_failed={sum(1 for e in lines if e.get('event') == 'delivery_settle_failed')} "
            f"attempts={facts.outcomes()} statuses={statuses} total={time.monotonic() - started:.1f}s"
        )
        with capsys.disabled():
            print(f"\n{summary}")

        problems = outcome_problems(facts, effects, ids)
        problems += overlaps
        if history.failed or len(ids) != SUBMISSIONS:
            problems.append(f"not accepted over HTTP: {history.failed[:5]}")
        # The worker never died: it saw every vendor answer, so a park of a submission the vendor
        # accepted means the database contradicts the vendor.
        contradicted = [s for s in ids if facts.status.get(s) == "parked" and effects.get(s)]
        if contradicted:
            problems.append(
                "parked although the vendor accepted it: "
                + "; ".join(f"{s} {facts.parked.get(s)} {facts.attempts.get(s)}" for s in contradicted)
            )
        left = {q: n for q, n in queues.items() if q in transit_queues(rig) and n["messages"]}
        if left:
            problems.append(f"messages left in transit at the end: {left}")
        if not worker.alive():
            problems.append(f"{worker.name} exited")
        assert not problems, "\n".join([summary, *problems, *cluster.errors()[:30]])
        # The fault was felt: more cuts than the delivery limit, each with vendor calls in flight,
        # and messages the broker gave back while their vendor call ran.
        assert cuts.done > DELIVERY_LIMIT and all(cuts.in_flight), summary
        assert any(e.get("redelivered") and e.get("queue") == deliver_queue for e in settled), summary
        # A dead letter whose work finished meanwhile is dropped, not parked: no park record (nor a
        # message in a parked queue) for a submission that was delivered.
        assert not parked_after_all, "\n".join(
            [summary, "parked records of delivered submissions:"]
            + [f"{s}: {records}" for s, records in parked_after_all.items()]
        )
    finally:
        await asyncio.to_thread(cluster.stop_all)  # the link serves the worker's goodbye meanwhile
        await link.close()


async def published_copies(rig: FaultRig, submission_id: str, copies: int) -> None:
    """Publish ``copies`` more copies of the submission's ``deliver:<id>`` message as the relay
    does: the message id and envelope of its outbox row, to the destination's queue."""
    connection = await asyncpg.connect(rig.dsn)
    try:
        row = await connection.fetchrow(
            "SELECT queue, message_id, envelope FROM outbox WHERE message_id = $1", f"deliver:{submission_id}"
        )
    finally:
        await connection.close()
    assert row is not None, f"no deliver outbox row for {submission_id}"
    envelope = row["envelope"]
    envelope = json.loads(envelope) if isinstance(envelope, str) else envelope
    broker = await aio_pika.connect(AMQP_URL)
    async with broker:
        channel = await broker.channel(publisher_confirms=True)
        for _ in range(copies):
            message = aio_pika.Message(
                encode_envelope(envelope),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=row["message_id"],
                content_type=CONTENT_TYPE,
                headers={ATTEMPT_HEADER: 1},
            )
            await channel.default_exchange.publish(message, rig.topology.route(row["queue"]), mandatory=True)


async def assert_one_delivery_each(
    rig: FaultRig, ids: list[str], scenario: str, started: float, capsys: Capture, copies: int
) -> None:
    """Each submission delivered once: one vendor POST, never two at once, one accept event; and
    every extra copy of its deliver message was seen by the worker and waited for the claim or
    found the work done."""
    statuses = await wait_final(rig.dsn, ids, 60.0)
    queues = await wait_drained(rig.namespace, transit_queues(rig), 60.0)
    facts = await read_facts(rig.dsn, ids)
    posts, overlaps = overlap_problems(rig)
    lines = rig.cluster.log_lines("worker")
    settled = {sid: settled_of(lines, f"deliver:{sid}") for sid in ids}
    waits = {sid: sum(1 for e in settled[sid] if waited_for_claim(e)) for sid in ids}
    busy = [e for e in lines if e.get("event") == "delivery_claimed_elsewhere"]
    # seconds left on the claim when a copy first found it held (lease minus the head start)
    first_left = [
        next((e.get("seconds_left") for e in busy if e.get("submission_id") == s), None) for s in ids
    ]
    summary = (
        f"[{scenario}] submissions={len(ids)} extra_copies_each={copies} "
        f"delivered={facts.count('delivered')} posts_per_key={[posts.get(s, 0) for s in ids]} "
        f"overlapping={len(overlaps)} accept_events={[facts.events.get(s, []).count(ACCEPT) for s in ids]} "
        f"settled_per_message={[len(settled[s]) for s in ids]} claim_waits={[waits[s] for s in ids]} "
        f"claim_seconds_left_at_first_wait={first_left} attempts={facts.outcomes()} statuses={statuses} "
        f"total={time.monotonic() - started:.1f}s"
    )
    with capsys.disabled():
        print(f"\n{summary}")
    problems = outcome_problems(facts, dict(rig.vendor.effects), ids) + overlaps
    problems += [f"{s} is {facts.status.get(s)}" for s in ids if facts.status.get(s) != "delivered"]
    problems += [f"{s} POSTed {posts.get(s, 0)} times" for s in ids if posts.get(s, 0) != 1]
    # every copy was consumed (each settles at least once; a wait settles again when it returns)
    problems += [f"{s}: only {len(settled[s])} settlements" for s in ids if len(settled[s]) < 1 + copies]
    left = {q: n for q, n in queues.items() if q in transit_queues(rig) and n["messages"]}
    if left:
        problems.append(f"messages left in transit at the end: {left}")
    assert not problems, "\n".join([summary, *problems, *rig.cluster.errors()[:30]])
    # The duplicate met the claim of the call in flight: it waited instead of POSTing.
    assert all(waits.values()), summary


async def test_duplicate_deliver_message_while_vendor_call_in_flight(
    rig_factory: RigFactory, capsys: Capture
) -> None:
    """A second copy of ``deliver:<id>`` arrives while the vendor holds the first's POST."""
    rig = await rig_factory(6.0, ADAPTER_TIMEOUT, XGW_DELIVERY__DELIVER_TIMEOUT_SECONDS=DELIVER_TIMEOUT)
    cluster = rig.cluster
    started = time.monotonic()
    await cluster.start_api()
    await cluster.wait_started(cluster.spawn_stage("relay"), cluster.spawn_stage("worker"))
    history = await send_submissions(cluster.base_url, 3, History(), 3)
    ids = list(history.accepted)
    assert len(ids) == 3, history.failed
    for sid in ids:
        await until(partial(holds, rig, sid), 30.0, f"the vendor holding {sid}")
        await published_copies(rig, sid, 1)
        assert sid in rig.vendor.in_flight_keys(), "the first POST ended before the copy was published"
    await assert_one_delivery_each(rig, ids, "duplicate deliver message in flight", started, capsys, 1)


def holds(rig: FaultRig, submission_id: str) -> bool:
    """Whether the vendor holds a POST of the submission (effect recorded, not answered yet)."""
    return submission_id in rig.vendor.in_flight_keys()


async def test_duplicate_deliver_messages_published_back_to_back(
    rig_factory: RigFactory, capsys: Capture
) -> None:
    """Two copies of ``deliver:<id>`` reach the worker together (a publish retried after a stall),
    before either is handled; then the relay publishes the original as well."""
    rig = await rig_factory(4.0, ADAPTER_TIMEOUT, XGW_DELIVERY__DELIVER_TIMEOUT_SECONDS=DELIVER_TIMEOUT)
    cluster = rig.cluster
    started = time.monotonic()
    await cluster.start_api()
    relay = await cluster.start_stage("relay")
    history = await send_submissions(cluster.base_url, 4, History(), 4)
    ids = list(history.accepted)
    assert len(ids) == 4, history.failed
    # The validate messages are out; without a relay the deliver messages stay in the outbox.
    assert await wait_outbox_sent(rig.dsn, 30.0) == 0
    await asyncio.to_thread(relay.terminate)
    await cluster.start_stage("worker")
    assert await validated(rig.dsn, ids, 60.0), "not all validated"
    for sid in ids:
        await published_copies(rig, sid, 2)
    await cluster.start_stage("relay")
    await assert_one_delivery_each(rig, ids, "duplicate deliver messages back to back", started, capsys, 2)


async def validated(dsn: str, ids: list[str], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        facts = await read_facts(dsn, ids)
        if all(facts.status.get(s) == "validated" for s in ids):
            return True
        await asyncio.sleep(0.2)
    return False
