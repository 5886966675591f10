"""The adapter SDK: everything a vendor needs to deliver submissions to their Fachverfahren.

Adapter authors import only from here (and the testing kit from ``gateway.adapters.testing``)::

    from gateway.adapters import Adapter, AdapterOptions, Receipt, Submission

See :class:`Adapter` for the contract and the lifecycle, :class:`Submission` for what is delivered
(with typed views of the metadata: :class:`ReplyChannel`, :class:`Payment`),
:class:`TransientDeliveryError` / :class:`PermanentDeliveryError` for how to fail. Building blocks:

* HTTP (:mod:`gateway.adapters.http`): :func:`send_delivery` (one idempotent, optionally signed
  request per submission), :func:`check_endpoint`, and the status policy :func:`http_outcome`
  with :func:`parse_retry_after`;
* files (:mod:`gateway.adapters.package`): :class:`HotFolder` (atomic, write-once packages of
  data, metadata, attachments and manifest) and :func:`save_attachment`;
* names (:mod:`gateway.adapters.names`): :func:`attachment_filenames`, :func:`extension_for`,
  :func:`safe_filename`, :func:`unique_filename`, :func:`is_safe_filename`.

An adapter is found through the entry-point group ``xoev_gateway.adapters``; the gateway's side
of that (registry, entry-point group, load errors) is :mod:`gateway.adapters.host`.
"""

from __future__ import annotations

from gateway.adapters.base import Adapter, AdapterOptions, NoOptions
from gateway.adapters.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.adapters.http import BodyFactory, check_endpoint, http_outcome, parse_retry_after, send_delivery
from gateway.adapters.metadata import Payment, ReplyChannel
from gateway.adapters.names import (
    attachment_filenames,
    extension_for,
    is_safe_filename,
    safe_filename,
    unique_filename,
)
from gateway.adapters.package import HotFolder, save_attachment
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
    "BodyFactory",
    "ConfigError",
    "HotFolder",
    "NoOptions",
    "Opener",
    "Payment",
    "PermanentDeliveryError",
    "Receipt",
    "ReplyChannel",
    "Service",
    "Submission",
    "TransientDeliveryError",
    "attachment_filenames",
    "check_endpoint",
    "extension_for",
    "http_outcome",
    "is_safe_filename",
    "parse_retry_after",
    "safe_filename",
    "save_attachment",
    "send_delivery",
    "unique_filename",
]
