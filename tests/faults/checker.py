"""Sender, broker probes and the loss-and-duplicate checker (SECURITY-CASES F4, F5, F12, F20).

The checker looks at four histories and classifies every submission as rabbitmq/jepsen's
``total-queue`` checker does:

* HTTP: which submissions the sender saw accepted (200 on submit); the sender retries a 429, 503
  or 507 after its ``Retry-After`` as a FIT-Connect sender does, and counts those answers;
* database: final status, event log, outbox rows and how often each was claimed;
* vendor: POSTs and effects per ``Idempotency-Key`` (the vendor dedupes on it), and whether two
  POSTs of one key were at the vendor at the same time (never allowed: the deliver stage's claim);
* worker logs: every ``delivery_settled`` line (queue, message id, attempt, redelivered).

``lost`` = accepted but no vendor effect; ``unexpected`` = a vendor effect for an id never
accepted; ``effect duplicates`` = more than one effect per key (never allowed); ``duplicated at
broker`` = a message delivered again (redelivery after a crash, or published twice by a relay) —
allowed and absorbed by the stages' idempotency or by the vendor's ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from gateway.crypto.b64 import b64url_decode
from tests.conftest import ACTIVE, SECRET, XBAU
from tests.faults.cluster import overlapping
from tests.helpers import (
    bearer,
    create,
    encrypt,
    encryption_key,
    metadata_for,
    new_id,
    token,
    upload,
    verify_event_log,
)

SAMPLE = (
    Path(__file__).parents[1]
    / "data/corpus/xbau-2.6/samples/made-here"
    / "MADE-HERE_minimal_baugenehmigung.antrag.0200.xml"
)
FINAL = ("delivered", "rejected", "parked")
ACCEPT = "accept-submission"


#: Answers a sender retries after ``Retry-After``: the gateway could not take the request now.
RETRYABLE = frozenset({429, 503, 507})


@dataclass
class History:
    """What the sender saw: ids accepted with 200 on submit, every failed attempt, and every
    answer it retried (``refusals``: "<step> <status>" → count)."""

    accepted: dict[str, str] = field(default_factory=dict)  # submission id → case id
    failed: list[tuple[str | None, str]] = field(default_factory=list)  # (submission id, error)
    seconds: float = 0.0
    refusals: collections.Counter[str] = field(default_factory=collections.Counter)
    without_retry_after: list[str] = field(default_factory=list)  # retryable answers lacking it
    #: The sender waits ``Retry-After`` but at most this long (a scenario may shorten a 507's 60 s),
    #: and gives up on a step that is still refused after ``give_up`` seconds.
    max_wait: float = 60.0
    give_up: float = 120.0


async def _retrying(
    step: str, call: Callable[[], Awaitable[httpx.Response]], history: History
) -> httpx.Response:
    """``call`` until its answer is not one of :data:`RETRYABLE`, waiting ``Retry-After`` (capped
    by ``history.max_wait``) between tries, as a FIT-Connect sender does; the same request again,
    so a submit whose first answer was lost is answered as the first was."""
    deadline = time.monotonic() + history.give_up
    while True:
        response = await call()
        if response.status_code not in RETRYABLE or time.monotonic() > deadline:
            return response
        history.refusals[f"{step} {response.status_code}"] += 1
        retry_after = response.headers.get("Retry-After", "")
        if not retry_after.isdigit():
            history.without_retry_after.append(f"{step} {response.status_code}: {response.text[:200]}")
        await asyncio.sleep(min(float(retry_after) if retry_after.isdigit() else 1.0, history.max_wait))


async def _send_one(
    api: httpx.AsyncClient, auth: dict[str, str], key: dict[str, Any], history: History
) -> None:
    xml, pdf, aid = SAMPLE.read_bytes(), b"%PDF-1.4 Lageplan " + new_id().encode(), new_id()
    sid: str | None = None
    try:
        created = await _retrying("create", partial(create, api, auth, ACTIVE, [aid]), history)
        if created.status_code != 201:
            history.failed.append((None, f"create {created.status_code}: {created.text[:200]}"))
            return
        ref = created.json()
        sid = ref["submissionId"]
        attachment = encrypt(key, pdf, cty="application/pdf")
        uploaded = await _retrying("upload", partial(upload, api, auth, sid, aid, attachment), history)
        if uploaded.status_code != 204:
            history.failed.append((sid, f"upload {uploaded.status_code}: {uploaded.text[:200]}"))
            return
        body = {
            "encryptedMetadata": encrypt(key, metadata_for(xml, {aid: pdf}, XBAU), cty="application/json"),
            "encryptedData": encrypt(key, xml),
        }
        submit = partial(api.put, f"/v1/submissions/{sid}", json=body, headers=auth)
        submitted = await _retrying("submit", submit, history)
        if submitted.status_code != 200:
            history.failed.append((sid, f"submit {submitted.status_code}: {submitted.text[:200]}"))
            return
        history.accepted[sid] = ref["caseId"]
    except httpx.HTTPError as exc:  # indeterminate: the checker may still find it delivered
        history.failed.append((sid, f"{type(exc).__name__}: {exc}"))


async def send_submissions(base_url: str, count: int, history: History, concurrency: int = 8) -> History:
    """``count`` real submissions (encrypted XBau sample + one PDF attachment), ``concurrency``
    at a time, over HTTP against the api process; ``history`` fills as they are accepted."""
    started = time.monotonic()
    # Idle connections expire before the server's keep-alive (uvicorn: 5 s) does: a request sent
    # after a 5 s Retry-After must not race the server closing its connection.
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as api:
        auth = bearer(await token(api, secret=SECRET))
        key = await encryption_key(api, auth, ACTIVE)
        remaining = iter(range(count))

        async def sender() -> None:
            for _ in remaining:
                await _send_one(api, auth, key, history)

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    history.seconds = time.monotonic() - started
    return history


async def verified_event_names(base_url: str, case_id: str) -> list[str]:
    """The case's event log as the sender reads it over HTTP, every SET's signature verified."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as api:
        auth = bearer(await token(api, secret=SECRET))
        tokens = (await api.get(f"/v1/cases/{case_id}/events", headers=auth)).json()["eventLog"]
        keys = {}
        for tok in tokens:
            header, claims = (json.loads(b64url_decode(part)) for part in tok.split(".")[:2])
            if not claims["iss"].startswith("http"):
                response = await api.get(f"/v1/destinations/{claims['iss']}/keys/{header['kid']}")
                keys[(claims["iss"], header["kid"])] = response.json()
        jwks = (await api.get("/.well-known/jwks.json")).json()
    claims = verify_event_log(tokens, jwks, lambda iss, kid: keys[(iss, kid)])
    return [next(iter(c["events"])).rsplit("/", 1)[-1] for c in claims]


async def rabbitmqctl(*args: str, within: float = 120.0) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {err.decode()[-2000:]}")
    return out.decode()


async def listed_queues(namespace: str) -> dict[str, dict[str, int]]:
    """``rabbitmqctl list_queues`` for the queues of ``namespace``: name → messages, consumers."""
    listed = json.loads(
        await rabbitmqctl("list_queues", "-q", "name", "messages", "consumers", "--formatter", "json")
    )
    return {
        q["name"]: {"messages": int(q["messages"] or 0), "consumers": int(q["consumers"] or 0)}
        for q in listed
        if q["name"].startswith(f"{namespace}.")
    }


@dataclass
class Result:
    """One scenario's numbers (see the module docstring for the categories)."""

    scenario: str
    sent: int
    http_failed: int
    statuses: dict[str, int]
    delivered: int
    lost: list[str]
    unexpected: list[str]
    effect_duplicates: dict[str, int]
    vendor_repeated_keys: int  # keys POSTed more than once (duplicated at broker, absorbed by vendor)
    vendor_extra_posts: int
    redeliveries: int  # deliveries with redelivered=True (consumer crash / broker restart)
    republished: int  # extra deliveries of the same (queue, message, attempt) not flagged redelivered
    # (nor a copy coming back after it waited for a held claim)
    outbox_reclaimed: int  # outbox rows claimed more than once by relays
    accept_events: dict[str, int]  # submission id → accept events, where != 1
    bad_logs: dict[str, list[str]]  # submission id → event names, where not ending in accept
    retries: int  # handler retries (attempt > 1)
    outbox_max_lag: float  # seconds from an outbox row's commit to its (last) mark-sent
    seconds: float
    send_seconds: float
    notes: list[str] = field(default_factory=list)
    overlapping: dict[str, int] = field(default_factory=dict)  # key → pairs of its POSTs at once
    refusals: dict[str, int] = field(default_factory=dict)  # "<step> <status>" → answers retried
    without_retry_after: list[str] = field(default_factory=list)  # of those, lacking Retry-After
    failures: list[str] = field(default_factory=list)  # the first few failed sends, as the sender saw them

    def line(self) -> str:
        return (
            f"[{self.scenario}] sent={self.sent} http_failed={self.http_failed} delivered={self.delivered} "
            f"lost={len(self.lost)} unexpected={len(self.unexpected)} "
            f"effect_duplicates={len(self.effect_duplicates)} "
            f"duplicated_at_broker_absorbed: vendor_repeated_keys={self.vendor_repeated_keys} "
            f"(extra_posts={self.vendor_extra_posts}) overlapping_posts={len(self.overlapping)} "
            f"redeliveries={self.redeliveries} "
            f"republished={self.republished} outbox_reclaimed={self.outbox_reclaimed} "
            f"retries={self.retries} outbox_max_lag={self.outbox_max_lag:.1f}s statuses={self.statuses} "
            f"send={self.send_seconds:.1f}s total={self.seconds:.1f}s"
            + (f" refused_and_retried={self.refusals}" if self.refusals else "")
            + (f" | {'; '.join(self.notes)}" if self.notes else "")
        )

    def problems(self) -> list[str]:
        out = []
        if self.http_failed:
            out.append(f"{self.http_failed} submissions were not accepted over HTTP: {self.failures}")
        if self.without_retry_after:
            out.append(f"retryable answers without Retry-After: {self.without_retry_after[:5]}")
        if self.lost:
            out.append(f"lost (accepted, no vendor effect): {self.lost[:10]}")
        if self.unexpected:
            out.append(f"unexpected (vendor effect, never accepted): {self.unexpected[:10]}")
        if self.effect_duplicates:
            out.append(f"duplicated effects at the vendor: {dict(list(self.effect_duplicates.items())[:10])}")
        if self.overlapping:
            out.append(f"the vendor had POSTs of one submission at the same time: {self.overlapping}")
        if self.delivered != self.sent:
            out.append(f"database: {self.delivered} of {self.sent} delivered; statuses {self.statuses}")
        if self.accept_events:
            out.append(f"accept events != 1: {dict(list(self.accept_events.items())[:10])}")
        if self.bad_logs:
            out.append(f"event log not ending in {ACCEPT}: {dict(list(self.bad_logs.items())[:5])}")
        return out


async def wait_final(dsn: str, ids: list[str], within: float) -> dict[str, int]:
    """Poll the database until every id has a final status (or ``within`` passed)."""
    deadline = time.monotonic() + within
    connection = await asyncpg.connect(dsn)
    try:
        while True:
            rows = await connection.fetch(
                "SELECT status, count(*) AS n FROM submissions WHERE id = ANY($1::text[]) GROUP BY status",
                ids,
            )
            statuses = {r["status"]: r["n"] for r in rows}
            if sum(statuses.get(s, 0) for s in FINAL) == len(ids) or time.monotonic() > deadline:
                return statuses
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def wait_outbox_sent(dsn: str, within: float) -> int:
    """Poll until no outbox row is pending; returns how many still are."""
    deadline = time.monotonic() + within
    connection = await asyncpg.connect(dsn)
    try:
        while True:
            pending = await connection.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            if not pending or time.monotonic() > deadline:
                return int(pending)
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def wait_queues(namespace: str, work_queues: list[str], within: float) -> dict[str, dict[str, int]]:
    """Poll ``rabbitmqctl list_queues`` until every queue of the namespace is empty and every
    queue in ``work_queues`` has a consumer (quorum queue metrics lag a little)."""
    deadline = time.monotonic() + within
    while True:
        queues = await listed_queues(namespace)
        empty = all(q["messages"] == 0 for q in queues.values())
        consumed = all(queues.get(name, {}).get("consumers", 0) > 0 for name in work_queues)
        if (empty and consumed) or time.monotonic() > deadline:
            return queues
        await asyncio.sleep(1.0)


async def check(
    scenario: str,
    dsn: str,
    history: History,
    vendor: Any,
    settled: list[dict[str, Any]],
    started: float,
    notes: list[str] | None = None,
) -> Result:
    """Classify every submission; see the module docstring."""
    accepted = set(history.accepted)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT id, status FROM submissions")
        events = await connection.fetch("SELECT submission_id, event FROM events ORDER BY id")
        reclaimed = await connection.fetchval("SELECT count(*) FROM outbox WHERE attempts > 1")
        lag = await connection.fetchval(
            "SELECT coalesce(extract(epoch FROM max(sent_at - created_at)), 0) FROM outbox"
        )
    finally:
        await connection.close()
    status = {r["id"]: r["status"] for r in rows}
    statuses = collections.Counter(status[s] for s in accepted if s in status)
    logs: dict[str, list[str]] = collections.defaultdict(list)
    for event in events:
        logs[event["submission_id"]].append(event["event"])
    effects = dict(vendor.effects)
    posts = vendor.posts_per_key()

    # A copy that waited for a held claim comes back with the same attempt number: that is the
    # worker's own delay, not a second publish.
    per_delivery = collections.Counter(
        (e.get("queue"), e.get("message_id"), e.get("attempt")) for e in settled if not e.get("redelivered")
    )
    per_delivery.subtract(
        (e.get("queue"), e.get("message_id"), e.get("attempt")) for e in settled if waited_for_claim(e)
    )
    return Result(
        scenario=scenario,
        sent=len(accepted),
        http_failed=len(history.failed),
        statuses=dict(statuses),
        delivered=statuses.get("delivered", 0),
        lost=sorted(s for s in accepted if effects.get(s, 0) == 0),
        unexpected=sorted(k for k, n in effects.items() if n and k not in accepted),
        effect_duplicates={k: n for k, n in effects.items() if n > 1},
        vendor_repeated_keys=sum(1 for n in posts.values() if n > 1),
        vendor_extra_posts=sum(n - 1 for n in posts.values() if n > 1),
        redeliveries=sum(1 for e in settled if e.get("redelivered")),
        republished=sum(n - 1 for n in per_delivery.values() if n > 1),
        outbox_reclaimed=int(reclaimed or 0),
        accept_events={s: logs[s].count(ACCEPT) for s in accepted if logs[s].count(ACCEPT) != 1},
        bad_logs={s: logs[s] for s in accepted if not logs[s] or logs[s][-1] != ACCEPT},
        retries=sum(1 for e in settled if (e.get("attempt") or 1) > 1),
        outbox_max_lag=float(lag or 0),
        seconds=time.monotonic() - started,
        send_seconds=history.seconds,
        notes=list(notes or []),
        overlapping={k: len(pairs) for k, pairs in overlapping(vendor.post_windows()).items()},
        refusals=dict(history.refusals),
        without_retry_after=list(history.without_retry_after),
        failures=[f"{sid}: {error}" for sid, error in history.failed[:5]],
    )


def waited_for_claim(entry: dict[str, Any]) -> bool:
    """Whether a ``delivery_settled`` line is a copy delayed because an attempt held the claim."""
    return entry.get("outcome") == "delay" and "holds the claim" in str(entry.get("reason", ""))


def settled_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in lines if e.get("event") == "delivery_settled"]
