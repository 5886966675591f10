"""The adapter SDK: everything a vendor needs to deliver submissions to their Fachverfahren.

Adapter authors import only from here (and the testing kit from ``gateway.adapters.testing``)::

    from gateway.adapters import Adapter, AdapterOptions, Receipt, Submission

See :class:`Adapter` for the contract and the lifecycle, :class:`Submission` for what is delivered,
:class:`TransientDeliveryError` / :class:`PermanentDeliveryError` for how to fail, and
:class:`AdapterRegistry` for how the gateway finds adapters (entry-point group
``xoev_gateway.adapters``).
"""

from __future__ import annotations

from gateway.adapters.base import Adapter, AdapterOptions, NoOptions
from gateway.adapters.errors import (
    AdapterLoadError,
    AdapterNotFoundError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from gateway.adapters.names import is_safe_filename, safe_filename, unique_filename
from gateway.adapters.registry import ENTRY_POINT_GROUP, AdapterInfo, AdapterRegistry
from gateway.adapters.submission import (
    AttachmentView,
    AuthenticationTags,
    Opener,
    Receipt,
    Service,
    Submission,
)
from gateway.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "AdapterInfo",
    "AdapterLoadError",
    "AdapterNotFoundError",
    "AdapterOptions",
    "AdapterRegistry",
    "AttachmentView",
    "AuthenticationTags",
    "ConfigError",
    "NoOptions",
    "Opener",
    "PermanentDeliveryError",
    "Receipt",
    "Service",
    "Submission",
    "TransientDeliveryError",
    "is_safe_filename",
    "safe_filename",
    "unique_filename",
]
