"""``xgw status`` and ``xgw trace`` in a terminal: aligned tables (rich), ages in words."""

from __future__ import annotations

import datetime as dt
import sys

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from gateway.operations.status import Status
from gateway.operations.trace import Timeline
from gateway.store.backlog import STATES

__all__ = ["console", "render_status", "render_timeline"]


def console() -> Console:
    """Stdout; wide enough for the tables when it is not a terminal."""
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def age(now: dt.datetime, then: dt.datetime | None) -> str:
    """``then`` as an age at ``now``: ``42s``, ``3m 12s``, ``2h 5m``, ``3d 4h``; ``-`` for none."""
    if then is None:
        return "-"
    seconds = max(int((now - then).total_seconds()), 0)
    for unit, size, small, small_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if seconds >= size:
            return f"{seconds // size}{unit} {seconds % size // small_size}{small}"
    return f"{seconds}s"


#: Columns of counts, aligned right.
NUMERIC = {"waiting", "parked", "messages", "consumers", *STATES, "failures 1h", "pending", "in flight"}


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title or None, title_justify="left", title_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    return table


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def render_status(status: Status) -> RenderableType:
    now = status.at
    head = Text(f"xoev-gateway at {now.isoformat(timespec='seconds')} · broker: {status.broker}")
    stages = _table("Stages", "stage", "queue", "waiting", "parked", "messages", "consumers")
    for s in status.stages:
        stages.add_row(
            s.name, s.queue, str(s.waiting), str(s.parked), _count(s.messages), _count(s.consumers)
        )
    destinations = _table(
        "Destinations",
        "destination",
        "name",
        "status",
        *STATES,
        "oldest waiting",
        "last success",
        "failures 1h",
    )
    for d in status.destinations:
        destinations.add_row(
            d.destination_id,
            d.name,
            d.status,
            *(str(d.counts[state]) for state in STATES),
            age(now, d.oldest_waiting),
            f"{age(now, d.last_success)} ago" if d.last_success else "-",
            str(d.failures_last_hour),
        )
    outbox = _table("Outbox", "route", "pending", "oldest")
    for row in status.outbox:
        outbox.add_row(row.route, str(row.pending), age(now, row.oldest))
    if not status.outbox:
        outbox.add_row("-", "0", "-")
    keys = _table(
        "Encryption keys (in flight: submissions that may need the key)",
        "destination",
        "kid",
        "current",
        "in flight",
    )
    for k in status.keys:
        keys.add_row(k.destination_id, k.kid, "yes" if k.current else "", str(k.in_flight))
    return Group(head, Text(), stages, Text(), destinations, Text(), outbox, Text(), keys)


#: Fields a timeline entry's text already says.
SAID = {"attempt", "adapter", "outcome", "event", "queue"}


def render_timeline(timeline: Timeline) -> RenderableType:
    head = Text(
        f"submission {timeline.submission_id} · case {timeline.case_id}\n"
        f"destination {timeline.destination_id} · service {timeline.service} · status {timeline.status}"
    )
    table = _table("", "time", "step", "what", "details")
    for entry in timeline.entries:
        when = entry.at.isoformat(timespec="milliseconds") if entry.at else "(pending)"
        details = "  ".join(f"{k}={v}" for k, v in entry.fields.items() if v is not None and k not in SAID)
        table.add_row(when, entry.kind, entry.text, details)
    return Group(head, Text(), table)
