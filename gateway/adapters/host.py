"""The adapter SDK's other side: what the gateway itself uses to find and load adapters.

Vendors never need this module (their surface is :mod:`gateway.adapters`); the composition root,
the CLI and the routing bindings import from here::

    from gateway.adapters.host import AdapterRegistry

:class:`AdapterRegistry` discovers adapters in the entry-point group :data:`ENTRY_POINT_GROUP`
(``xoev_gateway.adapters``); :class:`AdapterInfo` is what ``xgw adapters list`` shows about one;
:class:`AdapterNotFoundError` and :class:`AdapterLoadError` (both ``ConfigError``) say why a
configured adapter cannot be used. :func:`check_bindings` runs the ``check()`` of each
:class:`BoundAdapter` and returns a :class:`CheckResult` per binding; :class:`AdapterHealth` keeps
the latest results for the readiness probe.
"""

from __future__ import annotations

from gateway.adapters.checks import AdapterHealth, BoundAdapter, CheckResult, check_bindings
from gateway.adapters.errors import AdapterLoadError, AdapterNotFoundError
from gateway.adapters.registry import ENTRY_POINT_GROUP, AdapterInfo, AdapterRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterHealth",
    "AdapterInfo",
    "AdapterLoadError",
    "AdapterNotFoundError",
    "AdapterRegistry",
    "BoundAdapter",
    "CheckResult",
    "check_bindings",
]
