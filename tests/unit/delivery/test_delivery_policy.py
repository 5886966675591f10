"""Envelopes, the settlement policy, consumer supervision and error translation, without I/O."""

from __future__ import annotations

import asyncio

import aiormq.exceptions
import pytest
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

import gateway.delivery
from gateway.delivery import (
    MAX_ENVELOPE_BYTES,
    BrokerUnavailableError,
    Delivery,
    EnvelopeError,
    MemoryBroker,
    Outcome,
    PublishError,
    RetryPolicy,
    create_broker,
)
from gateway.delivery.amqp import AmqpBroker, translate_publish_error, with_heartbeat
from gateway.delivery.broker import decode_envelope, encode_envelope
from gateway.delivery.worker import (
    InFlight,
    attempt_from_headers,
    keep_subscribed,
    run_handler,
    settle,
)
from gateway.errors import PermanentError, TransientError

POLICY = RetryPolicy(max_attempts=3, delays_ms=(10, 20))


def delivery(attempt: int = 1) -> Delivery:
    return Delivery("q", "m", {}, attempt, False)


# -- envelopes -----------------------------------------------------------------------------


def test_envelope_is_compact_json_and_round_trips():
    body = encode_envelope({"submission_id": "s-1", "ids": [1, 2], "ä": True})
    assert body == '{"submission_id":"s-1","ids":[1,2],"ä":true}'.encode()
    assert decode_envelope(body) == {"submission_id": "s-1", "ids": [1, 2], "ä": True}


def test_envelope_size_cap_counts_encoded_bytes():
    overhead = len(b'{"p":""}')
    assert len(encode_envelope({"p": "x" * (MAX_ENVELOPE_BYTES - overhead)})) == MAX_ENVELOPE_BYTES
    with pytest.raises(EnvelopeError) as caught:
        encode_envelope({"p": "ä" * MAX_ENVELOPE_BYTES})  # 2 bytes per character
    assert caught.value.size > MAX_ENVELOPE_BYTES and caught.value.limit == MAX_ENVELOPE_BYTES
    assert isinstance(caught.value, PermanentError)


@pytest.mark.parametrize("envelope", [["a"], "text", {"n": float("nan")}, {"o": object()}, {1: {2}}])
def test_envelope_that_is_not_a_json_object_is_refused(envelope):
    with pytest.raises(EnvelopeError):
        encode_envelope(envelope)


@pytest.mark.parametrize("body", [b"<xml/>", b"[1]", b"\xff\xfe", b'"s"', b" " * (MAX_ENVELOPE_BYTES + 1)])
def test_body_that_is_not_an_envelope_is_refused(body):
    with pytest.raises(EnvelopeError):
        decode_envelope(body)


# -- settlement policy ---------------------------------------------------------------------


def test_ack_is_acked_and_permanent_failure_is_parked_at_once():
    assert settle(Outcome.ACK, 1, POLICY).outcome is Outcome.ACK
    parked = settle(Outcome.DEAD_LETTER, 1, POLICY)
    assert (parked.outcome, parked.reason) == (Outcome.DEAD_LETTER, "permanent")


def test_transient_failure_is_retried_at_the_level_of_its_attempt_until_the_budget_is_spent():
    first, second = settle(Outcome.RETRY, 1, POLICY), settle(Outcome.RETRY, 2, POLICY)
    assert (first.outcome, first.retry_level, first.next_attempt) == (Outcome.RETRY, 0, 2)
    assert (second.outcome, second.retry_level, second.next_attempt) == (Outcome.RETRY, 1, 3)
    last = settle(Outcome.RETRY, 3, POLICY)
    assert (last.outcome, last.reason) == (Outcome.DEAD_LETTER, "retries_exhausted")


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
def test_attempt_comes_from_the_header_and_defaults_to_one(headers, attempt):
    assert attempt_from_headers(headers) == attempt


async def test_handler_exception_or_missing_outcome_counts_as_retry():
    async def crash(_: Delivery) -> Outcome:
        raise RuntimeError("boom")

    async def forgets(_: Delivery):
        return None

    async def parks(_: Delivery) -> Outcome:
        return Outcome.DEAD_LETTER

    assert await run_handler(crash, delivery()) is Outcome.RETRY
    assert await run_handler(forgets, delivery()) is Outcome.RETRY
    assert await run_handler(parks, delivery()) is Outcome.DEAD_LETTER


async def test_in_flight_drain_waits_for_quick_tasks_and_cancels_slow_ones():
    inflight = InFlight()
    quick = asyncio.create_task(asyncio.sleep(0.01))
    slow = asyncio.create_task(asyncio.sleep(10))
    inflight.add(quick)
    inflight.add(slow)
    assert await inflight.drain(0.2) == 1
    assert quick.done() and not quick.cancelled() and slow.cancelled()
    assert len(inflight) == 0


async def test_supervisor_resubscribes_with_backoff_after_each_loss():
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
    await asyncio.sleep(0.05)
    assert attempts == []  # nothing lost yet
    losses[0].set()
    await asyncio.wait_for(third.wait(), 2)
    assert attempts[1] - attempts[0] >= 0.015 and attempts[2] - attempts[1] >= 0.035
    await asyncio.sleep(0.02)
    assert watched == 2  # watching the new subscription
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


# -- AMQP error translation and settings ----------------------------------------------------


def returned_message() -> DeliveredMessage:
    frame = Basic.Return(reply_code=312, reply_text="NO_ROUTE", exchange="", routing_key="q")
    return DeliveredMessage(delivery=frame, header=ContentHeader(), body=b"{}", channel=None)


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
def test_publish_failures_become_transient_publish_errors(exc, reason):
    error = translate_publish_error(exc, queue="xgw.process", message_id="m-1")
    assert isinstance(error, PublishError) and isinstance(error, TransientError)
    assert (error.reason, error.queue, error.message_id) == (reason, "xgw.process", "m-1")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://u:p@h/", "amqp://u:p@h/?heartbeat=15"),
        ("amqp://u:p@h/vh?name=x", "amqp://u:p@h/vh?name=x&heartbeat=15"),
        ("amqp://h/?heartbeat=5", "amqp://h/?heartbeat=5"),
    ],
)
def test_heartbeat_is_added_to_the_url_unless_configured(url, expected):
    assert with_heartbeat(url, 15) == expected


async def test_create_broker_chooses_in_process_without_url_and_rabbitmq_with_one():
    assert isinstance(create_broker(None), MemoryBroker)
    assert isinstance(create_broker(""), MemoryBroker)
    amqp = create_broker("amqp://guest:guest@127.0.0.1/", publish_timeout=3.0)
    assert isinstance(amqp, AmqpBroker) and amqp.publish_timeout == 3.0


def test_public_surface_is_pinned():
    assert sorted(gateway.delivery.__all__) == sorted(
        [
            "MAX_ENVELOPE_BYTES",
            "BatchResult",
            "Broker",
            "BrokerUnavailableError",
            "Consumer",
            "Delivery",
            "Envelope",
            "EnvelopeError",
            "Handler",
            "MemoryBroker",
            "OutboxRow",
            "OutboxSource",
            "Outcome",
            "OutgoingMessage",
            "PublishError",
            "Relay",
            "RetryPolicy",
            "Topology",
            "create_broker",
        ]
    )
