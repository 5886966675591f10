"""The broker contract: every test runs against the in-process broker and against RabbitMQ."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.broker import (
    DONE,
    MAX_ENVELOPE_BYTES,
    Broker,
    Delivery,
    EnvelopeError,
    Outcome,
    OutgoingMessage,
    Park,
    PublishError,
    Retry,
)
from gateway.broker.consuming import consume_dead_letters
from gateway.errors import ConfigError, PermanentError, TransientError
from tests.integration.delivery.conftest import Recorder


async def nothing_arrives(recorder: Recorder, seconds: float = 0.4) -> bool:
    before = len(recorder.deliveries)
    await asyncio.sleep(seconds)  # lets time pass to show that nothing more arrives
    return len(recorder.deliveries) == before


async def test_published_message_is_delivered_with_id_envelope_and_first_attempt(
    broker: Broker, recorder: type[Recorder]
) -> None:
    queue = broker.topology.deliver_queue("d1")
    handler = recorder()
    await broker.consume(queue, handler)
    await broker.publish(queue, {"submission_id": "s-1", "n": 1}, message_id="s-1")
    await handler.wait_for(1)
    delivery = handler.deliveries[0]
    assert (delivery.queue, delivery.message_id, delivery.envelope) == (
        queue,
        "s-1",
        {"submission_id": "s-1", "n": 1},
    )
    assert (delivery.attempt, delivery.redelivered) == (1, False)


async def test_acked_message_is_not_delivered_again(broker: Broker, recorder: type[Recorder]) -> None:
    queue = broker.topology.validate_queue
    first = recorder()
    consumer = await broker.consume(queue, first)
    await broker.publish(queue, {"id": 1}, message_id="m-1")
    await first.wait_for(1, finished=True)
    await consumer.stop()
    second = recorder()
    await broker.consume(queue, second)
    assert await nothing_arrives(second)


async def test_publish_to_missing_queue_raises_unroutable_publish_error(broker: Broker) -> None:
    queue = broker.topology.deliver_queue("nowhere")
    with pytest.raises(PublishError) as caught:
        await broker.publish(queue, {"id": 1}, message_id="m-1")
    assert isinstance(caught.value, TransientError)
    assert (caught.value.reason, caught.value.queue, caught.value.message_id) == ("unroutable", queue, "m-1")


async def test_envelope_at_the_size_cap_is_accepted_and_one_byte_more_is_refused(
    broker: Broker, recorder: type[Recorder]
) -> None:
    queue = broker.topology.validate_queue
    overhead = len('{"pad":""}')
    handler = recorder()
    await broker.consume(queue, handler)
    await broker.publish(queue, {"pad": "x" * (MAX_ENVELOPE_BYTES - overhead)}, message_id="fits")
    with pytest.raises(EnvelopeError) as caught:
        await broker.publish(queue, {"pad": "x" * (MAX_ENVELOPE_BYTES - overhead + 1)}, message_id="big")
    assert isinstance(caught.value, PermanentError)
    assert caught.value.size == MAX_ENVELOPE_BYTES + 1
    await handler.wait_for(1)
    assert await nothing_arrives(handler, 0.2)
    assert handler.ids == ["fits"]


async def test_publish_many_returns_only_the_confirmed_ids(broker: Broker, recorder: type[Recorder]) -> None:
    top = broker.topology
    messages = [OutgoingMessage(top.deliver_queue("d1"), f"ok-{i}", {"i": i}) for i in range(20)]
    messages += [
        OutgoingMessage(top.deliver_queue("missing"), "lost", {}),
        OutgoingMessage(top.deliver_queue("d2"), "huge", {"pad": "x" * MAX_ENVELOPE_BYTES}),
    ]
    confirmed = await broker.publish_many(messages)
    assert confirmed == {f"ok-{i}" for i in range(20)}
    handler = recorder()
    await broker.consume(top.deliver_queue("d1"), handler, prefetch=50)
    await handler.wait_for(20)
    assert sorted(handler.ids) == sorted(confirmed)


async def test_publish_many_refuses_duplicate_message_ids_in_one_batch(broker: Broker) -> None:
    queue = broker.topology.validate_queue
    with pytest.raises(ValueError, match="unique"):
        await broker.publish_many([OutgoingMessage(queue, "same", {}), OutgoingMessage(queue, "same", {})])


async def test_transient_failure_is_retried_with_growing_delays_then_parked(
    broker: Broker, recorder: type[Recorder]
) -> None:
    top = broker.topology
    queue = top.deliver_queue("d1")
    handler, parked = recorder(Retry()), recorder()
    await broker.consume(queue, handler)
    await broker.consume(top.parked_queue(queue), parked)
    await broker.publish(queue, {"id": "s"}, message_id="s")
    await parked.wait_for(1, within=10)
    assert [d.attempt for d in handler.deliveries] == [1, 2, 3]  # max_attempts = 3
    gaps = [b - a for a, b in zip(handler.times, handler.times[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, gaps  # 100 ms, then 200 ms
    assert (parked.deliveries[0].message_id, parked.deliveries[0].attempt) == ("s", 3)
    assert await nothing_arrives(handler, 0.5)


async def test_retry_that_succeeds_later_is_delivered_once_more_and_not_parked(
    broker: Broker, recorder: type[Recorder]
) -> None:
    top = broker.topology
    queue = top.validate_queue
    handler = recorder(lambda d: Retry() if d.attempt == 1 else DONE)
    parked = recorder()
    await broker.consume(queue, handler)
    await broker.consume(top.parked_queue(queue), parked)
    await broker.publish(queue, {"id": "s"}, message_id="s")
    await handler.wait_for(2, within=5, finished=True)
    assert [d.attempt for d in handler.deliveries] == [1, 2]
    assert await nothing_arrives(handler, 0.5)
    assert parked.deliveries == []


async def test_permanent_failure_is_parked_at_once_without_burning_retries(
    broker: Broker, recorder: type[Recorder]
) -> None:
    top = broker.topology
    queue = top.deliver_queue("d2")
    handler, parked = recorder(Park("refused")), recorder()
    await broker.consume(queue, handler)
    await broker.consume(top.parked_queue(queue), parked)
    await broker.publish(queue, {"id": "p"}, message_id="p")
    await parked.wait_for(1)
    assert [d.attempt for d in handler.deliveries] == [1]
    assert (parked.deliveries[0].message_id, parked.deliveries[0].envelope) == ("p", {"id": "p"})
    assert await nothing_arrives(handler, 0.3)


async def test_unexpected_handler_exception_counts_as_retry(broker: Broker, recorder: type[Recorder]) -> None:
    queue = broker.topology.validate_queue

    def explode_once(delivery: Delivery) -> Outcome:
        if delivery.attempt == 1:
            raise RuntimeError("adapter crashed")
        return DONE

    handler = recorder(explode_once)
    await broker.consume(queue, handler)
    await broker.publish(queue, {"id": "x"}, message_id="x")
    await handler.wait_for(2, within=5, finished=True)
    assert [d.attempt for d in handler.deliveries] == [1, 2]


async def test_prefetch_bounds_the_number_of_unsettled_messages(
    broker: Broker, recorder: type[Recorder]
) -> None:
    queue = broker.topology.deliver_queue("d1")
    gate = asyncio.Event()
    handler = recorder(gate=gate)
    await broker.publish_many([OutgoingMessage(queue, f"m{i}", {"i": i}) for i in range(8)])
    await broker.consume(queue, handler, prefetch=3)
    await handler.wait_for(3)
    assert await nothing_arrives(handler, 0.3)
    assert handler.running == 3
    gate.set()
    await handler.wait_for(8, finished=True)
    assert handler.max_running == 3
    assert sorted(handler.ids) == sorted(f"m{i}" for i in range(8))


async def test_stop_lets_in_flight_handlers_finish_and_leaves_the_rest_queued(
    broker: Broker, recorder: type[Recorder]
) -> None:
    queue = broker.topology.deliver_queue("d2")
    gate = asyncio.Event()
    first = recorder(gate=gate)
    await broker.publish_many([OutgoingMessage(queue, f"m{i}", {"i": i}) for i in range(4)])
    consumer = await broker.consume(queue, first, prefetch=1)
    await first.wait_for(1)
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.2)  # lets time pass: stop() must not return while the handler runs
    assert not stopping.done()  # waits for the handler
    gate.set()
    await asyncio.wait_for(stopping, 5)
    assert (first.finished, first.ids) == (1, ["m0"])
    second = recorder()
    await broker.consume(queue, second, prefetch=10)
    await second.wait_for(3)
    assert sorted(second.ids) == ["m1", "m2", "m3"]  # m0 was acked, not redelivered
    assert await nothing_arrives(second, 0.3)


async def test_handler_still_running_after_the_grace_period_is_redelivered(
    broker: Broker, recorder: type[Recorder]
) -> None:
    queue = broker.topology.validate_queue
    stuck = recorder(gate=asyncio.Event())  # never opened
    consumer = await broker.consume(queue, stuck)
    await broker.publish(queue, {"id": "slow"}, message_id="slow")
    await stuck.wait_for(1)
    started = time.monotonic()
    await consumer.stop(grace=0.2)
    assert time.monotonic() - started < 3
    second = recorder()
    await broker.consume(queue, second)
    await second.wait_for(1)
    assert (second.ids, second.deliveries[0].redelivered, second.deliveries[0].attempt) == (["slow"], True, 1)


class ParkBook:
    """A stage's ``parked`` side: records each reason, answers ``answer``."""

    def __init__(self, answer: Outcome | None = None) -> None:
        self.answer = answer
        self.reasons: list[str] = []

    async def handle(self, delivery: Delivery) -> Outcome:
        return DONE

    async def parked(self, delivery: Delivery, reason: str) -> Outcome:
        self.reasons.append(reason)
        return self.answer or Park(reason)


async def kill_consumers_until_dead_lettered(
    broker: Broker, recorder: type[Recorder], queue: str, book: ParkBook
) -> int:
    """Consumers that never settle, stopped one after another; returns the deliveries seen."""
    deliveries = 0
    while not book.reasons and deliveries < 6:
        stuck = recorder(gate=asyncio.Event())
        consumer = await broker.consume(queue, stuck)
        try:
            await asyncio.wait_for(stuck.wait_for(1), 1.0)
            deliveries += 1
        except BaseException:  # nothing came: dead-lettered meanwhile
            pass
        await consumer.stop(grace=0.05)
        await asyncio.sleep(0.1)  # time for the broker to requeue or dead-letter before the next one
    return deliveries


async def test_message_that_keeps_killing_its_consumer_is_recorded_then_parked(
    broker: Broker, recorder: type[Recorder]
) -> None:
    top = broker.topology  # delivery_limit = 2: three deliveries, then dead-lettered
    queue = top.deliver_queue("d1")
    book, parked = ParkBook(), recorder()
    await broker.consume(top.parked_queue(queue), parked)
    await consume_dead_letters(broker, {queue: book})
    await broker.publish(queue, {"id": "poison"}, message_id="poison")
    deliveries = await kill_consumers_until_dead_lettered(broker, recorder, queue, book)
    await parked.wait_for(1)
    assert deliveries == top.delivery_limit + 1
    assert parked.ids == ["poison"] and parked.deliveries[0].envelope == {"id": "poison"}
    assert len(book.reasons) == 1 and book.reasons[0].startswith("delivery limit")


async def test_retried_message_that_then_keeps_killing_its_consumer_is_recorded_against_its_queue(
    broker: Broker, recorder: type[Recorder]
) -> None:
    top = broker.topology
    queue = top.deliver_queue("d2")
    book, parked = ParkBook(), recorder()
    await broker.consume(top.parked_queue(queue), parked)
    await consume_dead_letters(broker, {queue: book})
    first = recorder(Retry("vendor down"))
    consumer = await broker.consume(queue, first)
    await broker.publish(queue, {"id": "r"}, message_id="r")
    await first.wait_for(1, finished=True)
    await consumer.stop()  # the retry copy goes through a delay queue, then comes back
    await kill_consumers_until_dead_lettered(broker, recorder, queue, book)
    await parked.wait_for(1)
    assert parked.ids == ["r"] and len(book.reasons) == 1
    assert book.reasons[0].startswith("delivery limit")


async def test_dead_letter_whose_work_finished_meanwhile_is_dropped_not_parked(
    broker: Broker, recorder: type[Recorder]
) -> None:
    top = broker.topology
    queue = top.deliver_queue("d2")
    book, parked = ParkBook(answer=DONE), recorder()
    await broker.consume(top.parked_queue(queue), parked)
    await consume_dead_letters(broker, {queue: book})
    await broker.publish(queue, {"id": "late"}, message_id="late")
    await kill_consumers_until_dead_lettered(broker, recorder, queue, book)
    assert book.reasons and await nothing_arrives(parked, 0.5)


async def test_park_the_stage_cannot_record_is_not_parked(broker: Broker, recorder: type[Recorder]) -> None:
    top = broker.topology  # the record fails: redelivered until the limit, then dead-lettered
    queue = top.deliver_queue("d1")

    class Broken(ParkBook):
        async def handle(self, delivery: Delivery) -> Outcome:
            return Park("refused")

        async def parked(self, delivery: Delivery, reason: str) -> Outcome:
            self.reasons.append(reason)
            raise OSError("database down")

    broken, later, parked = Broken(), ParkBook(), recorder()
    await broker.consume(top.parked_queue(queue), parked)
    await broker.consume(queue, broken)
    await consume_dead_letters(broker, {queue: later})
    await broker.publish(queue, {"id": "p"}, message_id="p")
    await parked.wait_for(1, within=10)
    assert broken.reasons == ["refused"] * (top.delivery_limit + 1)
    assert len(later.reasons) == 1 and later.reasons[0].startswith("delivery limit")


async def test_consuming_a_missing_queue_raises_config_error(
    broker: Broker, recorder: type[Recorder]
) -> None:
    with pytest.raises(ConfigError):
        await broker.consume(broker.topology.deliver_queue("missing"), recorder())


async def test_declare_is_idempotent(broker: Broker, recorder: type[Recorder]) -> None:
    queue = broker.topology.deliver_queue("d1")
    await broker.publish(queue, {"id": 1}, message_id="kept")
    await broker.declare(["d1", "d2"])
    handler = recorder()
    await broker.consume(queue, handler)
    await handler.wait_for(1)
    assert handler.ids == ["kept"]
