"""The operator's declarations: tenants own destinations; clients are the senders allowed to use them.

These models are the schema of the ``[[tenants]]`` and ``[[clients]]`` tables of the TOML config
file. They only describe; ``gateway.config.check`` judges cross-references and
``gateway.config.sync`` writes them to the database at start.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from gateway.config.subscriber import SubscriberConfig

LEIKA_PATTERN = r"^urn:de:fim:leika:leistung:\d{14}$"
ARS_PATTERN = r"^(DE|\d{2}|\d{3}|\d{5}|\d{9}|\d{12})$"

DestinationStatus = Literal["created", "active", "inactive", "decommissioned"]
ReplyChannel = Literal["eMail", "deMail", "fink", "elster", "fitConnect"]
#: Reply channels offered, by FIT-Connect name, each with its options (``fitConnect``: ``processStandards``).
ReplyChannels = dict[ReplyChannel, dict[str, Any]]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> dt.timedelta:
    """A whole number and a unit, ``s``, ``m``, ``h`` or ``d`` (``"72h"``, ``"3d"``), as a
    timedelta; raises ``ValueError`` for anything else."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*([smhd])\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 90m, 72h or 3d")
    return dt.timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) and value.strip()[-1:] in _UNITS else value


#: A duration in the config file: ``"72h"``, ``"3d"``, ``"90m"``, ``"30s"`` (or ISO 8601, seconds).
Duration = Annotated[dt.timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubmissionSchemaConfig(_Strict):
    """A data schema a service accepts, e.g. ``urn:xoev-de:bmk:standard:xbau_2.6``."""

    schema_uri: str = Field(min_length=1, max_length=200, description="schemaUri as senders declare it")
    mime_type: Literal["application/xml", "application/json"] = Field(description="media type of the data")


class RetryConfig(_Strict):
    """A binding's own retry policy; what it leaves out, the ``delivery`` settings give."""

    delays_seconds: list[Annotated[float, Field(ge=0.001)]] | None = Field(
        default=None,
        min_length=1,
        description="delay before retry n (the last one repeats), rounded up to a level of "
        "delivery.retry_delays_ms; default delivery.retry_delays_ms",
    )
    max_attempts: int | None = Field(
        default=None, ge=1, le=100, description="calls before parking; default delivery.max_attempts"
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="longest adapter call, a slower one is a transient failure; "
        "default delivery.deliver_timeout_seconds",
    )

    @property
    def delays_ms(self) -> tuple[int, ...] | None:
        """``delays_seconds`` in whole milliseconds."""
        return None if self.delays_seconds is None else tuple(round(s * 1000) for s in self.delays_seconds)


class AdapterBinding(_Strict):
    """Which adapter delivers a service's submissions, with the adapter's own options."""

    name: str = Field(min_length=1, description="adapter name in the xoev_gateway.adapters entry-point group")
    options: dict[str, Any] = Field(default_factory=dict, description="options validated by the adapter")
    retry: RetryConfig = Field(default_factory=RetryConfig, description="retry policy of this binding")


METADATA_VERSIONS = ("1.0.0", "1.1.0", "1.1.1", "1.2.0", "1.3.0", "1.5.0", "2.0.0", "2.1.0")
"""Every metadata version the gateway supports: the versions of ``schemas/fit-connect/metadata/manifest.toml``
(a unit test keeps the two equal)."""


class ServiceConfig(_Strict):
    """A public service (LeiKa) a destination offers, where, and in which data formats."""

    identifier: str = Field(
        pattern=LEIKA_PATTERN, description="LeiKa URN urn:de:fim:leika:leistung:<14 digits>"
    )
    name: str = Field(default="", max_length=255, description="human-readable service name")
    regions: list[str] = Field(default_factory=list, description="ARS region keys the service covers")
    submission_schemas: list[SubmissionSchemaConfig] = Field(min_length=1)
    reply_channels: ReplyChannels = Field(
        default_factory=dict,
        description="reply channels offered for this service (eMail, deMail, fink, elster, fitConnect); "
        "empty: the destination's",
    )
    adapter: AdapterBinding | None = Field(default=None, description="delivery binding for this service")


class DestinationConfig(_Strict):
    """A Zustellpunkt: the address senders submit to, owned by one tenant."""

    id: UUID
    name: str = Field(default="", max_length=255)
    status: DestinationStatus = "active"
    services: list[ServiceConfig] = Field(min_length=1)
    metadata_versions: list[str] = Field(
        default_factory=lambda: list(METADATA_VERSIONS),
        min_length=1,
        description="FIT-Connect metadata versions accepted; default: every version the gateway supports",
    )
    reply_channels: ReplyChannels = Field(
        default_factory=dict, description="reply channels of services that declare none of their own"
    )
    contact_information: dict[str, Any] = Field(
        default_factory=dict,
        description="published as contactInformation (e.g. legalName, address, phone, email, unit)",
    )
    encryption_kid: str | None = Field(
        default=None,
        description="pin the current encryption key; default: the newest generated key "
        "(`xgw keys rotate` refuses a pinned destination)",
    )
    reject_parked_after: Duration | None = Field(
        default=None,
        gt=dt.timedelta(0),
        description='reject a submission parked this long (e.g. "72h", "3d") with a destination-signed '
        "technical-error, as `xgw parked reject` does; default: never",
    )
    subscriber: SubscriberConfig | None = Field(
        default=None,
        description="fit-connect-subscriber binding: a Fachverfahren picks submissions up through the "
        "subscriber API (its service adapters are then not used)",
    )


class TenantConfig(_Strict):
    """A municipality (or other authority) served by this gateway."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = ""
    destinations: list[DestinationConfig] = Field(default_factory=list)


class ClientConfig(_Strict):
    """A sender (online service) and what it may send to: destinations, or regions (ARS prefixes)."""

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    secret_hash: str = Field(description="output of `xgw clients secret`; never the secret itself")
    destinations: list[UUID] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list, description="ARS prefixes; DE allows all regions")


class OperatorConfig(_Strict):
    """Someone who runs the gateway: the admin API (``/admin/v1``, HTTP Basic with this id and
    the secret) and its actions in the audit log as ``operator:<id>``."""

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    secret_hash: str = Field(description="output of `xgw clients secret`; never the secret itself")
    tenants: list[str] | None = Field(
        default=None, description="limit the operator to these tenants' destinations; default: all"
    )
