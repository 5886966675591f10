"""Relay logic against a scripted broker: partial confirms, outages, backoff (no I/O)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from gateway.broker import MemoryBroker, OutgoingMessage, Topology
from gateway.stages.relay import Relay
from gateway.store.outbox import OutboxRow
from tests.eventually import eventually


class ScriptedBroker(MemoryBroker):
    """Confirms only the first ``confirm_limit`` messages of a batch (a connection cut mid-batch);
    ``down`` makes every publish fail."""

    def __init__(self) -> None:
        super().__init__(Topology())
        self.confirm_limit: int | None = None
        self.down = False
        self.batches: list[list[str]] = []

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> set[str]:
        ids = [m.message_id for m in messages]
        self.batches.append(ids)
        if self.down:
            return set()
        return set(ids[: self.confirm_limit])


class Outbox:
    def __init__(self, count: int) -> None:
        self.pending = {i: OutboxRow(i, "xgw.validate", f"m{i}", {"i": i}) for i in range(count)}
        self.fetches = 0

    async def fetch_pending(self, limit: int) -> list[OutboxRow]:
        self.fetches += 1
        return [self.pending[i] for i in sorted(self.pending)][:limit]

    async def mark_sent(self, ids: list[int]) -> None:
        for row_id in ids:
            del self.pending[row_id]

    async def release(self, ids: list[int]) -> None:
        assert all(i in self.pending for i in ids)


async def test_rows_unconfirmed_when_the_connection_dies_mid_batch_stay_pending_and_go_out_later() -> None:
    broker, outbox = ScriptedBroker(), Outbox(10)
    broker.confirm_limit = 4
    relay = Relay(outbox, broker, batch_size=10)
    result = await relay.run_once()
    assert (result.sent, result.failed) == (4, 6)
    assert sorted(outbox.pending) == [4, 5, 6, 7, 8, 9]
    broker.confirm_limit = None
    result = await relay.run_once()
    assert (result.sent, result.failed, outbox.pending) == (6, 0, {})
    assert broker.batches[1] == [f"m{i}" for i in range(4, 10)]


async def test_relay_backs_off_while_nothing_is_confirmed_and_drains_after_recovery() -> None:
    broker, outbox = ScriptedBroker(), Outbox(3)
    broker.down = True
    relay = Relay(outbox, broker, poll_interval=60, backoff=(0.02, 0.08))
    started = time.monotonic()
    relay.start()
    try:
        await eventually(lambda: outbox.fetches >= 5, what="five fetches while the broker is down")
        # backing off, not spinning: 0.02, 0.04, 0.08, 0.08 s between them
        assert time.monotonic() - started >= 0.2
        broker.down = False
        await eventually(lambda: not outbox.pending, what="the rows sent after the recovery")
    finally:
        await relay.stop()
    assert outbox.pending == {}


async def test_store_error_in_mark_sent_leaves_rows_pending_for_a_later_round() -> None:
    broker, outbox = ScriptedBroker(), Outbox(2)

    async def broken(ids: list[int]) -> None:
        raise RuntimeError("commit failed")

    outbox.mark_sent = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await Relay(outbox, broker).run_once()
    assert sorted(outbox.pending) == [0, 1]  # published, not marked: duplicates, never loss


async def test_stop_without_start_returns_and_batch_size_must_be_positive() -> None:
    await Relay(Outbox(0), ScriptedBroker()).stop()
    with pytest.raises(ValueError):
        Relay(Outbox(0), ScriptedBroker(), batch_size=0)
