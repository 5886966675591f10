"""Lifecycle checks: each binding's ``Adapter.check()``, one result per binding.

A binding is an adapter configured for one service of one destination. :func:`check_bindings`
runs the checks of adapters already built and started (the workers at start); a check that
raises, hangs or crashes becomes that binding's ``problem`` and never stops the others.
:class:`AdapterHealth` keeps the latest results for the readiness probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from gateway.adapters.base import Adapter
from gateway.errors import GatewayError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BoundAdapter:
    """An adapter instance bound to ``service`` of ``destination`` under its configured ``name``."""

    destination: str
    service: str
    name: str
    adapter: Adapter[Any]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one binding's check; ``problem`` says what is wrong, ``None`` if nothing."""

    destination: str
    service: str
    adapter: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
        return self.problem is None


async def check_bindings(
    bound: Iterable[BoundAdapter], *, timeout_seconds: float = 30.0
) -> list[CheckResult]:
    """Run ``check()`` of every adapter in ``bound`` concurrently, each within ``timeout_seconds``."""
    bound = list(bound)
    problems = await asyncio.gather(*(run_check(b.adapter, timeout_seconds) for b in bound))
    return [
        CheckResult(b.destination, b.service, b.name, problem)
        for b, problem in zip(bound, problems, strict=True)
    ]


async def run_check(adapter: Adapter[Any], timeout_seconds: float) -> str | None:
    """What ``adapter.check()`` found wrong, or ``None``; never raises (but for cancellation)."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await adapter.check()
    except GatewayError as exc:
        return exc.detail
    except TimeoutError:
        return f"check() did not finish within {timeout_seconds:g} s"
    except Exception as exc:
        log.warning("adapter_check_crashed", adapter=type(adapter).__name__, exc_info=True)
        return f"check() crashed: {type(exc).__name__}: {exc}"
    return None


class AdapterHealth:
    """The latest check result of each binding, by (destination, service)."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], CheckResult] = {}

    async def check(
        self, bound: Iterable[BoundAdapter], *, timeout_seconds: float = 30.0
    ) -> list[CheckResult]:
        """Check ``bound``, record the results and log each failing binding as an error."""
        results = await check_bindings(bound, timeout_seconds=timeout_seconds)
        self.record(results)
        for result in results:
            if not result.ok:
                log.error(
                    "adapter_check_failed",
                    destination_id=result.destination,
                    service=result.service,
                    adapter=result.adapter,
                    problem=result.problem,
                )
        return results

    def record(self, results: Iterable[CheckResult]) -> None:
        """Keep ``results``, replacing earlier ones of the same bindings."""
        self._results.update({(r.destination, r.service): r for r in results})

    def results(self) -> list[CheckResult]:
        """Every recorded result, in the order first recorded."""
        return list(self._results.values())

    def unhealthy(self) -> list[CheckResult]:
        """The bindings whose latest check failed."""
        return [r for r in self._results.values() if not r.ok]

    @property
    def ready(self) -> bool:
        """Whether no binding is known to fail its check."""
        return not self.unhealthy()
