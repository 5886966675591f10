"""The adapter SDK: everything a vendor needs to deliver submissions to their Fachverfahren.

Adapter authors import only from here (and the testing kit from ``gateway.adapters.testing``)::

    from gateway.adapters import Adapter, AdapterOptions, Receipt, Submission

See :class:`Adapter` for the contract and the lifecycle, :class:`Submission` for what is delivered,
:class:`TransientDeliveryError` / :class:`PermanentDeliveryError` for how to fail, and
:func:`safe_filename` / :func:`unique_filename` / :func:`is_safe_filename` for naming files. An
adapter is found through the entry-point group ``xoev_gateway.adapters``; the gateway's side of
that (registry, entry-point group, load errors) is :mod:`gateway.adapters.host`.
"""

from __future__ import annotations

from gateway.adapters.base import Adapter, AdapterOptions, NoOptions
from gateway.adapters.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.adapters.names import is_safe_filename, safe_filename, unique_filename
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
    "Adapter",
    "AdapterOptions",
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
