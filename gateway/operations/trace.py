"""``xgw trace``: one submission's timeline across every hop, in time order.

Entries: ``received``, each ``attachment``, ``submitted``, each ``relayed`` outbox row (to the
validate or deliver stage), ``rejected`` with its problems (type and part; their details stay in
the sender's event log) or ``validated``, each delivery ``attempt``, ``delivered`` or ``parked``
with its reason, every signed ``event`` and each ``callback``. Ids, times, sizes, adapter names
and what vendors answered; never payload content.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from gateway.content.problems import slug_of
from gateway.crypto.b64 import b64url_decode
from gateway.errors import NotFoundError
from gateway.store.history import History, Hop, SignedEvent
from gateway.store.readmodel import ReadModel

__all__ = ["Entry", "Timeline", "read_timeline"]

Value = str | int | None


@dataclass(frozen=True)
class Entry:
    at: dt.datetime | None  #: ``None``: not yet (an outbox row the broker has not confirmed)
    kind: str
    text: str
    fields: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Timeline:
    submission_id: str
    case_id: str
    destination_id: str
    service: str
    status: str
    entries: list[Entry]

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for entry in out["entries"]:
            entry["at"] = entry["at"].isoformat() if entry["at"] else None
        return out


async def read_timeline(read: ReadModel, reference: str) -> Timeline:
    """The timeline of the submission (or case) ``reference``; raises ``NotFoundError``."""
    history = await read.history(reference)
    if history is None:
        raise NotFoundError(f"no submission or case {reference!r}", slug="submission-not-found")
    r = history.received
    return Timeline(r.submission_id, r.case_id, r.destination_id, r.service, r.status, _entries(history))


def _entries(history: History) -> list[Entry]:
    r = history.received
    entries = [
        Entry(
            r.created_at,
            "received",
            f"created by client {r.client_id}",
            {"attachments": r.announced_attachments},
        )
    ]
    entries += [
        Entry(u.at, "attachment", f"attachment {u.attachment_id} uploaded", {"bytes": u.size})
        for u in history.uploads
    ]
    if r.submitted_at is not None:
        entries.append(Entry(r.submitted_at, "submitted", "submitted"))
    entries += [entry for hop in history.hops for entry in _hop(hop)]
    entries += [
        Entry(
            a.at,
            "attempt",
            f"attempt {a.attempt} via {a.adapter}: {a.outcome.value}",
            {
                "attempt": a.attempt,
                "adapter": a.adapter,
                "outcome": a.outcome.value,
                "error_class": a.error_class,
                "code": a.code,
                "error": a.error,
                "detail": a.detail,
                "reference": a.reference,
                "latency_ms": a.latency_ms,
            },
        )
        for a in history.attempts
    ]
    entries += [
        Entry(p.at, "parked", f"parked from {p.queue}: {p.reason}", {"queue": p.queue}) for p in history.parks
    ]
    entries += [_event(event) for event in history.events]
    dated = sorted((e for e in entries if e.at is not None), key=lambda e: e.at or dt.datetime.min)
    return dated + [e for e in entries if e.at is None]


def _hop(hop: Hop) -> list[Entry]:
    """A relayed outbox row; a deliver row also dates the validation (same transaction)."""
    fields: dict[str, Value] = {"route": hop.route, "message_id": hop.message_id, "relay_tries": hop.tries}
    if hop.route == "callbacks":
        event = hop.message_id.rsplit(":", 1)[-1]
        state = "sent" if hop.sent else "waiting for the relay"
        return [Entry(hop.sent, "callback", f"callback for {event}: {state}", fields)]
    validated = [Entry(hop.created, "validated", "validated")] if hop.route.startswith("deliver.") else []
    if hop.sent is None:
        waiting = f"to {hop.route}: waiting for the relay since {hop.created.isoformat()}"
        return [*validated, Entry(None, "relayed", waiting, fields)]
    return [*validated, Entry(hop.sent, "relayed", f"relayed to {hop.route}", fields)]


def _event(event: SignedEvent) -> Entry:
    problems = _problems(event.token) if event.name == "reject-submission" else []
    if problems:
        listed = ", ".join(f"{slug} ({instance})" for slug, instance in problems)
        return Entry(event.at, "rejected", f"rejected: {listed}", {"event": event.name, "problems": listed})
    kind = "delivered" if event.name == "accept-submission" else "event"
    return Entry(event.at, kind, f"event {event.name}", {"event": event.name})


def _problems(token: str) -> list[tuple[str, str]]:
    """(slug, instance) of each problem in a ``reject-submission`` SET's claims."""
    try:
        claims = json.loads(b64url_decode(token.split(".")[1]))
    except (ValueError, IndexError):
        return []
    found: list[tuple[str, str]] = []
    for payload in (claims.get("events") or {}).values():
        for problem in payload.get("problems", []) if isinstance(payload, dict) else []:
            if isinstance(problem, dict):
                slug = slug_of(str(problem.get("type", "")))
                found.append((slug, str(problem.get("instance", ""))))
    return found
