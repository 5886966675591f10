"""The relay stage: moves committed outbox rows to the broker, at least once.

Intake commits a submission and an outbox row in one transaction; the relay publishes pending rows
in batches with pipelined publisher confirms and marks a row sent only after *its* confirm. A row
whose publish failed (unroutable, nacked, timed out, connection lost mid-batch) stays pending and
goes out in a later round, after a capped exponential backoff. A confirm lost in flight, or a
crash between confirm and ``mark_sent``, publishes a row twice: consumers dedupe on
``message_id``.

The relay wakes on :meth:`Relay.notify`, called as soon as a transaction that wrote outbox rows
commits (in this process after its commit, from other processes through PostgreSQL's
``LISTEN/NOTIFY``: ``gateway.store.outbox``, ``gateway.store.listen``), and otherwise every
``poll_interval`` seconds, a safety net only (rows written while the listener reconnects, or by
another process on SQLite).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from gateway.broker.base import Broker, OutgoingMessage
from gateway.store.outbox import OutboxRow, OutboxSource

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one round did: rows fetched, confirmed (and marked sent), failed, deferred."""

    fetched: int
    sent: int
    failed: int
    deferred: int  #: same message id as an earlier row of the batch: goes out next round


class Relay:
    """Publishes pending outbox rows until stopped."""

    def __init__(
        self,
        source: OutboxSource,
        broker: Broker,
        *,
        batch_size: int = 100,
        poll_interval: float = 5.0,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._source = source
        self._broker = broker
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._backoff = backoff
        self._wake = asyncio.Event()  # notify() or stop()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Look for pending rows now instead of at the next poll."""
        self._wake.set()

    async def run_once(self) -> BatchResult:
        """Fetch one batch, publish it, mark the confirmed rows sent. Store errors propagate."""
        rows = await self._source.fetch_pending(self._batch_size)
        batch: dict[str, OutboxRow] = {}
        for row in rows:
            batch.setdefault(row.message_id, row)  # ids must be unique per batch (publish_many)
        if not batch:
            return BatchResult(0, 0, 0, 0)
        confirmed = await self._broker.publish_many(
            [OutgoingMessage(r.queue, r.message_id, r.envelope) for r in batch.values()]
        )
        sent = [r.id for r in batch.values() if r.message_id in confirmed]
        if sent:
            await self._source.mark_sent(sent)
        unsent = sorted({r.id for r in rows} - set(sent))
        if unsent:
            await self._source.release(unsent)
        result = BatchResult(len(rows), len(sent), len(batch) - len(sent), len(rows) - len(batch))
        log.info(
            "relay_batch_published",
            fetched=result.fetched,
            sent=result.sent,
            failed=result.failed,
            deferred=result.deferred,
        )
        return result

    async def run(self) -> None:
        """Loop until :meth:`stop`. A full (or partly deferred) batch goes on at once; a round
        that confirmed nothing and failed, or raised, backs off (rows stay pending); otherwise
        (short batch, or some rows failed but the broker works) wait for ``notify`` or the poll."""
        delay = self._backoff[0]
        while not self._stopped.is_set():
            self._wake.clear()
            try:
                result: BatchResult | None = await self.run_once()
            except Exception:
                log.exception("relay_batch_failed")
                result = None
            if result is None or (result.failed and not result.sent):
                log.warning("relay_backing_off", delay_s=delay)
                await self._sleep(self._stopped, delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            if result.failed or (result.fetched < self._batch_size and not result.deferred):
                await self._sleep(self._wake, self._poll_interval)

    @staticmethod
    async def _sleep(event: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def start(self) -> None:
        """Run :meth:`run` in a background task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self, grace: float = 30.0) -> None:
        """Finish the current batch (confirms awaited, rows marked), then return; a batch still
        running after ``grace`` seconds is cancelled and its unmarked rows stay pending."""
        self._stopped.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        log.info("relay_stopped")
