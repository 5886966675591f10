"""Message fate: what a handler may decide, and the one rule that turns it into broker actions.

A handler returns one of four outcomes:

* :class:`Done`: finished (including "already done" and "rejected": handlers are idempotent);
* :class:`Retry`: failed transiently; try again after the delay of this attempt, or later when
  the failure named an earliest retry (``after_seconds``); spends one attempt of the budget, the
  queue's or the work's own (``policy``, e.g. an adapter binding's);
* :class:`Wait`: somebody else holds the work (an in-flight duplicate); look again after
  ``after_seconds`` without spending an attempt;
* :class:`Park`: will never succeed as it is; park it with ``reason``.

:func:`settle` applies the retry budget (the last-attempt rule lives here and nowhere else):
a ``Retry`` of the last attempt becomes a park with reason ``retries exhausted``. The wanted
delay is the policy's delay of the attempt, or ``after_seconds`` when that is longer (capped by
the policy's longest delay). The shared delay queues of the topology serve it: the shortest
level at least that long (capped by the longest level), so a retry never comes sooner than wanted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.broker.topology import RetryPolicy

__all__ = ["DONE", "Done", "Outcome", "Park", "Retry", "Settlement", "Wait", "settle"]


@dataclass(frozen=True, slots=True)
class Done:
    """Finished; acknowledge."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Transient failure: spend an attempt and try again later."""

    reason: str = "transient"
    after_seconds: float | None = None  #: earliest sensible retry; None: the policy's delay
    policy: RetryPolicy | None = None  #: the work's own budget and delays; None: the queue's


@dataclass(frozen=True, slots=True)
class Wait:
    """Another holder is working on it: look again after ``after_seconds``, no attempt spent."""

    after_seconds: float
    reason: str = "busy"


@dataclass(frozen=True, slots=True)
class Park:
    """Permanent failure: park with ``reason`` (an operator replays or rejects it)."""

    reason: str


Outcome = Done | Retry | Wait | Park
DONE = Done()


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the broker does: ``ack``; ``delay`` (republish with ``attempt`` to delay ``level``,
    then ack); ``park`` (move to the parked queue with ``reason``, then ack); ``requeue`` (give it
    back unsettled: the broker redelivers it, bounded by its delivery limit)."""

    action: Literal["ack", "delay", "park", "requeue"]
    reason: str
    level: int = 0
    attempt: int = 0


def settle(outcome: Outcome, attempt: int, policy: RetryPolicy) -> Settlement:
    """The broker action for ``outcome`` of delivery number ``attempt`` under ``policy``."""
    match outcome:
        case Done():
            return Settlement("ack", "ok")
        case Park(reason):
            return Settlement("park", reason)
        case Wait(after, reason):
            return Settlement("delay", reason, policy.level_at_least(after * 1000), attempt)
        case Retry(reason, after, own):
            budget = own or policy
            if attempt >= budget.max_attempts:
                return Settlement("park", f"retries exhausted after {attempt} attempts: {reason}")
            wanted_ms: float = budget.delay_ms(attempt)
            if after is not None:  # the earliest sensible retry: never sooner than the backoff
                wanted_ms = max(wanted_ms, min(after * 1000, max(budget.delays_ms)))
            return Settlement("delay", reason, policy.level_at_least(wanted_ms), attempt + 1)
    raise TypeError(f"not an outcome: {outcome!r}")
