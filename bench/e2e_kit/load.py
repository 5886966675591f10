"""Senders: the FIT-Connect flow as a sender runs it, closed-loop at saturation, open-loop at a
fixed rate, and the submit call alone.

One submission: the destination and its current key are read (``GET /v1/destinations/{id}``,
``GET …/keys/{kid}``), the XBau data (about 10 KiB), its metadata and one small PDF are
encrypted to that key (RSA-OAEP-256 + A256GCM, ``gateway.testing.sender``), the submission is
created, the attachment uploaded, metadata and data submitted, and the case's event log is polled
until ``accept-submission`` (first poll after ``poll_first`` seconds, then 1.5 times longer each
time up to ``poll_max``). The access token is fetched once per sender and reused.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from gateway.adapters.testing import sample_bytes
from gateway.testing.sender import SampleSubmission, Sender

ACCEPT, REJECT = "accept-submission", "reject-submission"
T = TypeVar("T")
TIMEOUT = 120.0  # one submission that takes longer than this is a failure, not a slow result

#: A schema-valid XBau ``<anlage>`` entry (the schema allows any number); also the padding of
#: ``bench/validator_throughput.py``'s ``xbau-10k``.
ANLAGE = """    <anlage>
      <bezeichnung>Bauvorlage {i:02d}: Lageplan, Grundrisse, Schnitte, Ansichten (1:100)</bezeichnung>
      <versionsnummer>{i}</versionsnummer>
      <datum>2024-01-{day:02d}</datum>
      <anlageart listVersionID="A">
        <code>A</code>
      </anlageart>
      <mimeType listURI="A" listVersionID="A">
        <code>A</code>
      </mimeType>
      <anhangOderVerlinkung>
        <anhang>
          <dokumentid>a1b2c3d4-e5f6-4890-abcd-ef12345678{i:02d}</dokumentid>
          <dateiname>bauvorlage-{i:02d}.pdf</dateiname>
        </anhang>
      </anhangOderVerlinkung>
    </anlage>
"""


def xbau_10k(target: int = 10 * 1024) -> bytes:
    """The XBau sample the tests use (``gateway/data``), with ``<anlage>`` entries appended until
    it is at least ``target`` bytes."""
    text = sample_bytes("xbau-baugenehmigung-antrag.xml").decode("utf-8")
    head, tail = text.split("  </m:anlagen>")
    extra, i = "", 1
    while len((head + extra + "  </m:anlagen>" + tail).encode()) < target:
        extra += ANLAGE.format(i=i, day=1 + i % 28)
        i += 1
    return (head + extra + "  </m:anlagen>" + tail).encode()


class Samples:
    """The plaintext every submission sends: 10 KiB XBau and the sample PDF, a fresh attachment id."""

    def __init__(self) -> None:
        self.data = xbau_10k()
        self.pdf = sample_bytes("lageplan.pdf")

    def next(self) -> SampleSubmission:
        attachment = str(uuid.uuid4())
        return SampleSubmission(
            data=self.data, attachments={attachment: self.pdf}, filenames={attachment: "lageplan.pdf"}
        )


@dataclass
class Outcome:
    """One submission through the flow, on the monotonic clock."""

    started: float  # before the destination lookup
    submit_started: float = 0.0  # before PUT /v1/submissions/{id}
    accepted: float = 0.0  # when a poll first saw accept-submission
    polls: int = 0
    error: str | None = None

    @property
    def latency(self) -> float:
        """Submit call sent → accept-submission seen."""
        return self.accepted - self.submit_started


@dataclass
class Prepared:
    """A created submission with its attachment uploaded, and the submit call's JSON body."""

    submission_id: str
    case_id: str
    body: bytes


class BenchSender(Sender):
    """:class:`gateway.testing.sender.Sender` that also times the submit call, and can stop
    before it (for the intake measurement)."""

    def __init__(self, api: httpx.AsyncClient, client_id: str, secret: str, destination: str) -> None:
        super().__init__(api, client_id, secret)
        self.destination = destination

    async def prepare(self, sample: SampleSubmission) -> Prepared:
        """Every step before the submit call; raises ``httpx.HTTPStatusError`` on a refusal."""
        auth = await self._auth()
        destination = f"/v1/destinations/{self.destination}"
        kid = (await self.api.get(destination, headers=auth)).raise_for_status().json()["encryptionKid"]
        key = (await self.api.get(f"{destination}/keys/{kid}")).raise_for_status().json()
        sealed = sample.encrypt(key)
        body = {
            "destinationId": self.destination,
            "announcedAttachments": list(sealed.attachments),
            "serviceType": {"identifier": sample.service, "name": sample.service_name},
        }
        ref = (await self.api.post("/v1/submissions", json=body, headers=auth)).raise_for_status().json()
        for attachment_id, jwe in sealed.attachments.items():
            upload = await self.api.put(
                f"/v1/submissions/{ref['submissionId']}/attachments/{attachment_id}",
                content=jwe,
                headers={**auth, "Content-Type": "application/jose"},
            )
            upload.raise_for_status()
        parts = {"encryptedMetadata": sealed.metadata, "encryptedData": sealed.data}
        return Prepared(ref["submissionId"], ref["caseId"], json.dumps(parts).encode())

    async def put_submit(self, prepared: Prepared, api: httpx.AsyncClient | None = None) -> None:
        """The submit call alone (to ``api``, default this sender's gateway)."""
        headers = {**await self._auth(), "Content-Type": "application/json"}
        response = await (api or self.api).put(
            f"/v1/submissions/{prepared.submission_id}", content=prepared.body, headers=headers
        )
        response.raise_for_status()

    async def wait_accepted(self, case_id: str, outcome: Outcome, first: float, most: float) -> None:
        delay = first
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            outcome.polls += 1
            names = await self.events(case_id)
            if ACCEPT in names:
                outcome.accepted = time.monotonic()
                return
            if REJECT in names:
                outcome.error = "rejected"
                return
            delay = min(delay * 1.5, most)
        outcome.error = "timeout"

    async def run_one(self, sample: SampleSubmission, poll_first: float, poll_max: float) -> Outcome:
        outcome = Outcome(started=time.monotonic())
        try:
            prepared = await self.prepare(sample)
            outcome.submit_started = time.monotonic()
            await self.put_submit(prepared)
            await self.wait_accepted(prepared.case_id, outcome, poll_first, poll_max)
        except httpx.HTTPError as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"[:300]
        return outcome


@dataclass
class Phase:
    """What one load phase did: outcomes, the window the rate is taken over, and the rate."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    counted: int = 0  # submissions accepted within the window

    @property
    def rate(self) -> float:
        return self.counted / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is None]

    @property
    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error is not None]


async def saturate(
    sender: BenchSender,
    samples: Samples,
    senders: int,
    submissions: int | None,
    duration: float | None,
    poll: tuple[float, float],
) -> Phase:
    """Closed loop: ``senders`` concurrent senders, each starting its next submission when its
    last one was accepted. With ``submissions``: the rate is that many over the time to the last
    accept. With ``duration``: new submissions start until it has passed, the rate counts the
    accepts within it; the ones still in flight are finished (and their CPU is counted)."""
    phase = Phase()
    start = time.monotonic()
    deadline = start + duration if duration else None
    left = submissions if submissions else 0

    async def one_sender() -> None:
        nonlocal left
        while True:
            if deadline is not None:
                if time.monotonic() >= deadline:
                    return
            elif left <= 0:
                return
            else:
                left -= 1
            phase.outcomes.append(await sender.run_one(samples.next(), *poll))

    await asyncio.gather(*(one_sender() for _ in range(senders)))
    ok = phase.ok
    if deadline is not None:
        phase.seconds = deadline - start
        phase.counted = sum(1 for o in ok if o.accepted <= deadline)
    else:
        phase.seconds = (max(o.accepted for o in ok) - start) if ok else 0.0
        phase.counted = len(ok)
    return phase


async def open_loop(
    sender: BenchSender, samples: Samples, rate: float, count: int, poll: tuple[float, float]
) -> Phase:
    """Open loop: ``count`` submissions started at a fixed ``rate`` per second, whatever the
    gateway's pace (a late one does not delay the next)."""
    start = time.monotonic()

    async def at(i: int) -> Outcome:
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        return await sender.run_one(samples.next(), *poll)

    outcomes = await asyncio.gather(*(at(i) for i in range(count)))
    phase = Phase(list(outcomes), seconds=time.monotonic() - start)
    phase.counted = len(phase.ok)
    return phase


async def bounded(concurrency: int, jobs: Sequence[T], call: Callable[[T], Awaitable[object]]) -> float:
    """Run ``call(job)`` for every job, ``concurrency`` at a time; the wall time in seconds."""
    queue: asyncio.Queue[T] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while not queue.empty():
            await call(queue.get_nowait())

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - start


async def wait_all_accepted(sender: BenchSender, case_ids: Sequence[str], within: float = 300.0) -> int:
    """Until every case has its accept (or ``within`` passed); how many did."""
    deadline = time.monotonic() + within
    accepted = 0
    for case_id in case_ids:
        while time.monotonic() < deadline:
            if ACCEPT in await sender.events(case_id):
                accepted += 1
                break
            await asyncio.sleep(0.25)
    return accepted
