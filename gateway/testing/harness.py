"""An adapter run through the real gateway in a test: one destination bound to it, SQLite in a
temporary directory, the in-process broker, every stage running.

::

    async def test_delivered(xgw_harness: AdapterHarness) -> None:
        outcome = await xgw_harness.deliver(MyAdapter, {"url": "…"})
        outcome.assert_delivered(retries=0)

:meth:`AdapterHarness.deliver` sends the shipped XBau sample as a FIT-Connect sender would (token,
encryption, upload, submit) and waits until the submission is delivered, parked or rejected;
:class:`Outcome` holds its status, the sender's event log and the recorded attempts.
:meth:`AdapterHarness.running` keeps the gateway up for several submissions. Retries are fast: the
delay levels are ``DELIVERY["retry_delays_ms"]`` (a binding's ``retry`` delays round up to them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.adapters import Adapter
from gateway.adapters.host import AdapterRegistry
from gateway.adapters.testing import LEIKA_BAUGENEHMIGUNG, XBAU_SCHEMA_URI
from gateway.app import Gateway, Libraries, create_app
from gateway.config.settings import Settings
from gateway.crypto.keys import KeyStore
from gateway.crypto.secrets import hash_secret
from gateway.store.attempts import Attempt, AttemptOutcome, attempts_of
from gateway.store.models import Submission as SubmissionRow
from gateway.testing.sender import SampleSubmission, Sender, Sent, sample_submission

__all__ = ["DELIVERY", "DESTINATION", "AdapterHarness", "Outcome", "RunningGateway", "make_key_template"]

#: The destination the harness binds the adapter to.
DESTINATION = "0c438057-ec3e-4ce0-b154-1683b5d3c2e8"
CLIENT_ID = "xgw-harness"
CLIENT_SECRET = "xgw-harness-secret-0123456789abcdef"
#: The ``delivery`` settings of the harness's gateway (override with ``delivery=``).
DELIVERY: Mapping[str, Any] = {
    "retry_delays_ms": [100, 200, 400, 800],
    "max_attempts": 4,
    "deliver_timeout_seconds": 10,
    "relay_poll_seconds": 0.1,
}
FINAL = frozenset({"delivered", "parked", "rejected"})


def make_key_template(root: Path) -> Path:
    """RSA-4096 keys of :data:`DESTINATION` and the gateway in ``root`` (seconds each: make once)."""
    keys = KeyStore(root)
    for purpose in ("encryption", "signing"):
        keys.generate(DESTINATION, purpose)
    keys.generate("gateway", "signing")
    return root


@dataclass(frozen=True)
class Outcome:
    """Where a submission ended: ``status`` (``delivered``, ``parked`` or ``rejected``), the
    sender's event names and the recorded adapter calls."""

    submission_id: str
    case_id: str
    status: str
    events: tuple[str, ...]
    attempts: tuple[Attempt, ...]

    @property
    def retries(self) -> int:
        """Adapter calls after the first."""
        return max(len(self.attempts) - 1, 0)

    @property
    def code(self) -> str | None:
        """The vendor's code of the last call (``PermanentDeliveryError.code``)."""
        return self.attempts[-1].code if self.attempts else None

    def assert_delivered(self, *, retries: int | None = None) -> None:
        """Raises ``AssertionError`` unless delivered with an accept event (after ``retries`` retries)."""
        assert self.status == "delivered", f"not delivered: {self}"
        assert "accept-submission" in self.events, f"no accept-submission event: {self}"
        assert self.attempts and self.attempts[-1].outcome is AttemptOutcome.DELIVERED, str(self)
        assert retries is None or self.retries == retries, f"expected {retries} retries: {self}"

    def assert_parked(self, *, code: str | None = None) -> None:
        """Raises ``AssertionError`` unless parked (with the vendor's ``code`` on the last call)."""
        assert self.status == "parked", f"not parked: {self}"
        assert code is None or self.code == code, f"expected vendor code {code!r}: {self}"

    def __str__(self) -> str:
        calls = "; ".join(
            f"#{a.attempt} {a.outcome.value}"
            + (f" {a.error_class}: {a.error}" if a.error else "")
            + (f" [code {a.code}]" if a.code else "")
            for a in self.attempts
        )
        events = ", ".join(self.events)
        return f"submission {self.submission_id} {self.status}; events: {events}; calls: {calls or 'none'}"


class RunningGateway:
    """The gateway of :meth:`AdapterHarness.running`: send samples, wait for their outcome."""

    def __init__(self, gateway: Gateway, sender: Sender) -> None:
        self.gateway = gateway
        self.sender = sender

    async def submit(self, sample: SampleSubmission | None = None) -> Sent:
        """Send ``sample`` (default: a fresh :func:`sample_submission`) to the bound destination."""
        return await self.sender.submit(DESTINATION, sample or sample_submission())

    async def outcome(self, sent: Sent, *, within: float = 30.0) -> Outcome:
        """The outcome once the submission is delivered, parked or rejected.

        Raises ``AssertionError`` if it is still on its way after ``within`` seconds.
        """
        deadline = time.monotonic() + within
        while True:
            async with self.gateway.sessions() as session:
                row = await session.get(SubmissionRow, sent.submission_id)
                status = row.status if row else "unknown"
                attempts = tuple(await attempts_of(session, sent.submission_id))
            if status in FINAL or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        events = tuple(await self.sender.events(sent.case_id))
        outcome = Outcome(sent.submission_id, sent.case_id, status, events, attempts)
        assert status in FINAL, f"still on its way after {within:g} s: {outcome}"
        return outcome


class AdapterHarness:
    """Runs adapters through the gateway in ``workdir``, with a copy of the keys in ``key_template``
    (:func:`make_key_template`) and the loaded ``libraries`` (loaded here if not given)."""

    def __init__(self, workdir: Path, key_template: Path, libraries: Libraries | None = None) -> None:
        self.workdir = workdir
        self.key_template = key_template
        self.libraries = libraries
        self._runs = itertools.count(1)

    @asynccontextmanager
    async def running(
        self,
        adapter: type[Adapter[Any]] | str,
        options: Mapping[str, Any] | None = None,
        *,
        name: str = "under-test",
        retry: Mapping[str, Any] | None = None,
        delivery: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[RunningGateway]:
        """The gateway with ``adapter`` (a class, registered as ``name``, or an installed adapter's
        name) bound with ``options`` and the binding's ``retry`` table, until the context exits.

        Raises the gateway's ``ConfigError`` if the binding cannot be built (unknown adapter, bad
        options).
        """
        libraries = self.libraries or Libraries.load()
        registry = AdapterRegistry.discover()
        if not isinstance(adapter, str):
            registry.register(name, adapter, replace=True)
            adapter = name
        root = self.workdir / f"xgw-run-{next(self._runs)}"
        shutil.copytree(self.key_template, root / "keys")
        binding = {"name": adapter, "options": dict(options or {}), "retry": dict(retry or {})}
        settings = Settings.load(
            None,
            base_url="http://gateway.test",
            data_dir=root / "data",
            key_dir=root / "keys",
            database_url=f"sqlite+aiosqlite:///{root / 'gateway.db'}",
            tenants=[_tenant(binding)],
            clients=[
                {"id": CLIENT_ID, "secret_hash": hash_secret(CLIENT_SECRET), "destinations": [DESTINATION]}
            ],
            delivery={**DELIVERY, **(delivery or {})},
        )
        app = create_app(settings, dataclasses.replace(libraries, registry=registry))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as api,
        ):
            yield RunningGateway(app.state.gateway, Sender(api, CLIENT_ID, CLIENT_SECRET))

    async def deliver(
        self,
        adapter: type[Adapter[Any]] | str,
        options: Mapping[str, Any] | None = None,
        *,
        sample: SampleSubmission | None = None,
        within: float = 30.0,
        **binding: Any,
    ) -> Outcome:
        """Send one ``sample`` through a gateway with ``adapter`` bound (arguments as for
        :meth:`running`) and return its :class:`Outcome`."""
        async with self.running(adapter, options, **binding) as gateway:
            return await gateway.outcome(await gateway.submit(sample), within=within)


def _tenant(binding: Mapping[str, Any]) -> dict[str, Any]:
    service = {
        "identifier": LEIKA_BAUGENEHMIGUNG,
        "name": "Baugenehmigung beantragen",
        "regions": ["064350014014"],
        "submission_schemas": [{"schema_uri": XBAU_SCHEMA_URI, "mime_type": "application/xml"}],
        "adapter": binding,
    }
    destination = {"id": DESTINATION, "name": "Bauaufsicht", "status": "active", "services": [service]}
    return {"id": "harness", "name": "Adapter harness", "destinations": [destination]}
