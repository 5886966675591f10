"""Envelopes, the settlement policy, consumer supervision and error translation, without I/O."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiormq.exceptions
import pytest
from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

import gateway.broker
from gateway.broker import (
    DONE,
    MAX_ENVELOPE_BYTES,
    BrokerUnavailableError,
    DeadLetter,
    Delivery,
    EnvelopeError,
    MemoryBroker,
    Outcome,
    Park,
    PublishError,
    Retry,
    RetryPolicy,
    Settlement,
    Wait,
    create_broker,
    settle,
)
from gateway.broker.amqp import AmqpBroker, translate_publish_error, with_heartbeat
from gateway.broker.amqp.channel import Publisher, dead_letter_of
from gateway.broker.base import as_handler, decode_envelope, encode_envelope
from gateway.broker.consuming import (
    DeadLetters,
    InFlight,
    attempt_from_headers,
    decide,
    keep_subscribed,
    run_handler,
)
from gateway.errors import PermanentError, TransientError
from tests.eventually import eventually

POLICY = RetryPolicy(max_attempts=3, delays_ms=(10, 20))


def delivery(attempt: int = 1) -> Delivery:
    return Delivery("q", "m", {}, attempt, False)


# -- envelopes -----------------------------------------------------------------------------


def test_envelope_is_compact_json_and_round_trips() -> None:
    body = encode_envelope({"submission_id": "s-1", "ids": [1, 2], "ä": True})
    assert body == '{"submission_id":"s-1","ids":[1,2],"ä":true}'.encode()
    assert decode_envelope(body) == {"submission_id": "s-1", "ids": [1, 2], "ä": True}


def test_envelope_size_cap_counts_encoded_bytes() -> None:
    overhead = len(b'{"p":""}')
    assert len(encode_envelope({"p": "x" * (MAX_ENVELOPE_BYTES - overhead)})) == MAX_ENVELOPE_BYTES
    with pytest.raises(EnvelopeError) as caught:
        encode_envelope({"p": "ä" * MAX_ENVELOPE_BYTES})  # 2 bytes per character
    size = caught.value.size
    assert size is not None and size > MAX_ENVELOPE_BYTES and caught.value.limit == MAX_ENVELOPE_BYTES
    assert isinstance(caught.value, PermanentError)


@pytest.mark.parametrize("envelope", [["a"], "text", {"n": float("nan")}, {"o": object()}, {1: {2}}])
def test_envelope_that_is_not_a_json_object_is_refused(envelope: Any) -> None:
    with pytest.raises(EnvelopeError):
        encode_envelope(envelope)


@pytest.mark.parametrize("body", [b"<xml/>", b"[1]", b"\xff\xfe", b'"s"', b" " * (MAX_ENVELOPE_BYTES + 1)])
def test_body_that_is_not_an_envelope_is_refused(body: bytes) -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(body)


# -- settlement policy ---------------------------------------------------------------------


def test_done_is_acked_and_park_is_parked_at_once_with_its_reason() -> None:
    assert settle(DONE, 1, POLICY) == Settlement("ack", "ok")
    assert settle(Park("vendor said no"), 1, POLICY) == Settlement("park", "vendor said no")


def test_retry_spends_an_attempt_at_the_level_of_its_attempt_until_the_budget_is_spent() -> None:
    first, second = settle(Retry("down"), 1, POLICY), settle(Retry("down"), 2, POLICY)
    assert (first.action, first.level, first.attempt) == ("delay", 0, 2)
    assert (second.action, second.level, second.attempt) == ("delay", 1, 3)
    last = settle(Retry("still down"), 3, POLICY)
    assert last.action == "park" and last.reason == "retries exhausted after 3 attempts: still down"


def test_retry_after_picks_the_shortest_level_at_least_that_long_never_sooner_than_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=5, delays_ms=(1_000, 4_000, 16_000))
    assert settle(Retry("429", after_seconds=3), 1, policy).level == 1
    assert settle(Retry("429", after_seconds=4), 1, policy).level == 1
    assert settle(Retry("429", after_seconds=0.1), 2, policy).level == 1  # the backoff of attempt 2
    assert settle(Retry("429", after_seconds=3600), 1, policy).level == 2  # capped


def test_wait_delays_without_spending_an_attempt_even_on_the_last_one() -> None:
    waited = settle(Wait(5.0, "claimed"), 3, POLICY)
    assert (waited.action, waited.attempt, waited.level) == ("delay", 3, 1)


class Recorder:
    """A handler whose ``handle`` and ``parked`` answers are scripted; it remembers park reasons."""

    def __init__(self, outcome: Outcome | Exception, on_park: Outcome | Exception) -> None:
        self.outcome, self.on_park = outcome, on_park
        self.parks: list[str] = []

    async def handle(self, _: Delivery) -> Outcome:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    async def parked(self, _: Delivery, reason: str) -> Outcome:
        self.parks.append(reason)
        if isinstance(self.on_park, Exception):
            raise self.on_park
        return self.on_park


async def test_every_park_is_recorded_by_the_handler_first() -> None:
    own = Recorder(Park("refused"), Park("refused"))
    assert await decide(own, delivery(), POLICY) == Settlement("park", "refused")
    exhausted = Recorder(RuntimeError("boom"), Park("x"))
    settled = await decide(exhausted, delivery(3), POLICY)
    assert settled.action == "park" and exhausted.parks == [settled.reason]
    assert "retries exhausted after 3 attempts: RuntimeError: boom" in settled.reason


async def test_a_park_the_handler_cannot_record_is_never_parked() -> None:
    finished = Recorder(Retry(), DONE)
    assert (await decide(finished, delivery(3), POLICY)).action == "ack"
    busy = Recorder(Retry(), Wait(15.0))
    assert await decide(busy, delivery(3), POLICY) == Settlement("delay", "busy", 1, 3)
    broken = Recorder(Park("refused"), OSError("database down"))
    assert (await decide(broken, delivery(), POLICY)).action == "requeue"


async def test_dead_letters_are_recorded_by_the_handler_of_their_origin_queue() -> None:
    origin = Recorder(DONE, Park("recorded"))
    dead = DeadLetters({"xgw.deliver.d": origin})
    letter = Delivery("xgw.dead", "m", {}, 1, False, DeadLetter("xgw.deliver.d", "delivery_limit"))
    assert await dead.handle(letter) == Park("recorded")
    assert origin.parks and origin.parks[0].startswith("delivery limit")
    assert letter.origin == "xgw.deliver.d"
    stranger = Delivery("xgw.dead", "m", {}, 1, False, DeadLetter("xgw.deliver.gone", "delivery_limit"))
    assert isinstance(await dead.handle(stranger), Park)  # parked all the same, unrecorded here


@pytest.mark.parametrize(
    ("headers", "attempt"),
    [
        (None, 1),
        ({}, 1),
        ({"xgw-attempt": 3}, 3),
        ({"xgw-attempt": "2"}, 2),
        ({"xgw-attempt": 0}, 1),
        ({"xgw-attempt": -4}, 1),
        ({"xgw-attempt": True}, 1),
        ({"xgw-attempt": "x"}, 1),
        ({"xgw-attempt": 2.5}, 1),
        ({"xgw-attempt": b"4"}, 4),
    ],
)
def test_attempt_comes_from_the_header_and_defaults_to_one(headers: dict[str, Any], attempt: int) -> None:
    assert attempt_from_headers(headers) == attempt


async def test_handler_exception_or_missing_outcome_counts_as_retry() -> None:
    async def crash(_: Delivery) -> Outcome:
        raise RuntimeError("boom")

    async def forgets(_: Delivery) -> Outcome:
        return None  # type: ignore[return-value]  # the mistake under test

    async def parks(_: Delivery) -> Outcome:
        return Park("no")

    assert await run_handler(as_handler(crash), delivery()) == Retry("RuntimeError: boom")
    assert isinstance(await run_handler(as_handler(forgets), delivery()), Retry)
    assert await run_handler(as_handler(parks), delivery()) == Park("no")


async def test_in_flight_drain_waits_for_quick_tasks_and_cancels_slow_ones() -> None:
    inflight = InFlight()
    quick = asyncio.create_task(asyncio.sleep(0.01))
    slow = asyncio.create_task(asyncio.sleep(10))
    inflight.add(quick)
    inflight.add(slow)
    assert await inflight.drain(0.2) == 1
    assert quick.done() and not quick.cancelled() and slow.cancelled()
    assert len(inflight) == 0


async def test_supervisor_resubscribes_with_backoff_after_each_loss() -> None:
    losses = [asyncio.Event(), asyncio.Event()]  # the first subscription dies, the second lives
    watched = 0
    attempts: list[float] = []
    third = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def wait_lost() -> None:
        nonlocal watched
        watched += 1
        await losses[watched - 1].wait()

    async def resubscribe() -> None:
        attempts.append(loop.time())
        if len(attempts) < 3:
            raise BrokerUnavailableError("connection refused")
        third.set()

    task = asyncio.create_task(keep_subscribed("q", wait_lost, resubscribe, (0.02, 0.05)))
    await asyncio.sleep(0.05)  # lets time pass: no resubscription while nothing is lost
    assert attempts == []
    losses[0].set()
    await asyncio.wait_for(third.wait(), 2)
    assert attempts[1] - attempts[0] >= 0.015 and attempts[2] - attempts[1] >= 0.035
    await eventually(lambda: watched == 2, what="watching the new subscription")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


# -- AMQP error translation and settings ----------------------------------------------------


def returned_message() -> DeliveredMessage:
    frame = Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange="", routing_key="q")
    no_channel = cast(AbstractChannel, None)  # the error only carries the returned frame
    return DeliveredMessage(delivery=frame, header=ContentHeader(), body=b"{}", channel=no_channel)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (aiormq.exceptions.PublishError(returned_message(), Basic.Return()), "unroutable"),
        (aiormq.exceptions.DeliveryError(None, Basic.Nack(delivery_tag=1)), "nacked"),
        (TimeoutError(), "timeout"),
        (aiormq.exceptions.ChannelInvalidStateError("closed"), "connection"),
        (aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"), "connection"),
        (ConnectionResetError(104, "reset"), "connection"),
    ],
)
def test_publish_failures_become_transient_publish_errors(exc: BaseException, reason: str) -> None:
    error = translate_publish_error(exc, queue="xgw.validate", message_id="m-1")
    assert isinstance(error, PublishError) and isinstance(error, TransientError)
    assert (error.reason, error.queue, error.message_id) == (reason, "xgw.validate", "m-1")


class _DroppingExchange:
    """Publishes as aiormq does on a connection it gave up for missed heartbeats: the pending
    confirm fails with CancelledError although nobody cancelled the publishing task."""

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        confirm: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        confirm.cancel()
        await confirm


class _Channel:
    default_exchange = _DroppingExchange()


async def test_a_confirm_lost_with_its_silent_connection_is_a_publish_error_not_a_cancellation() -> None:
    publisher = Publisher(cast(Any, _Channel()), timeout=1.0)
    with pytest.raises(PublishError) as raised:
        await publisher.publish("", "xgw.validate", b"{}", message_id="m-1")
    assert raised.value.reason == "connection"


async def test_a_publish_whose_task_is_cancelled_is_still_cancelled() -> None:
    started = asyncio.Event()

    class Hanging:
        async def publish(self, *args: Any, **kwargs: Any) -> None:
            started.set()
            await asyncio.Event().wait()

    channel = type("HangingChannel", (), {"default_exchange": Hanging()})()
    task = asyncio.create_task(
        Publisher(cast(Any, channel), timeout=1.0).publish("", "q", b"{}", message_id="m")
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://u:p@h/", "amqp://u:p@h/?heartbeat=15"),
        ("amqp://u:p@h/vh?name=x", "amqp://u:p@h/vh?name=x&heartbeat=15"),
        ("amqp://h/?heartbeat=5", "amqp://h/?heartbeat=5"),
    ],
)
def test_heartbeat_is_added_to_the_url_unless_configured(url: str, expected: str) -> None:
    assert with_heartbeat(url, 15) == expected


async def test_create_broker_chooses_in_process_without_url_and_rabbitmq_with_one() -> None:
    assert isinstance(create_broker(None), MemoryBroker)
    assert isinstance(create_broker(""), MemoryBroker)
    amqp = create_broker("amqp://guest:guest@127.0.0.1/", publish_timeout=3.0)
    assert isinstance(amqp, AmqpBroker) and amqp.publish_timeout == 3.0


def test_public_surface_is_pinned() -> None:
    assert sorted(gateway.broker.__all__) == sorted(
        [
            "DONE",
            "MAX_ENVELOPE_BYTES",
            "Broker",
            "BrokerUnavailableError",
            "Consumer",
            "DeadLetter",
            "Delivery",
            "Done",
            "Envelope",
            "EnvelopeError",
            "Handler",
            "MemoryBroker",
            "Outcome",
            "OutgoingMessage",
            "Park",
            "PublishError",
            "Retry",
            "RetryPolicy",
            "Settlement",
            "Topology",
            "Wait",
            "create_broker",
            "settle",
        ]
    )


def test_dead_letter_origin_is_the_most_recent_death_not_the_delay_queue_of_an_earlier_retry() -> None:
    headers = {
        "x-first-death-queue": "xgw.retry.0",
        "x-first-death-reason": "expired",
        "x-death": [
            {"queue": "xgw.deliver.d", "reason": "delivery_limit", "count": 1},
            {"queue": "xgw.retry.0", "reason": "expired", "count": 1},
        ],
    }
    assert dead_letter_of(headers) == DeadLetter("xgw.deliver.d", "delivery_limit", 1)
    newer = {**headers, "x-last-death-queue": b"xgw.deliver.d", "x-last-death-reason": "delivery_limit"}
    assert dead_letter_of(newer) == DeadLetter("xgw.deliver.d", "delivery_limit", 1)
    ours = {**headers, "xgw-dead-origin": "xgw.validate", "xgw-dead-reason": "delivery_limit"}
    assert dead_letter_of(ours) == DeadLetter("xgw.validate", "delivery_limit")
    assert dead_letter_of({}) is None
