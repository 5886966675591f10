"""The operator's declarations: tenants own destinations; clients are the senders allowed to use them.

These models are the schema of the ``[[tenants]]`` and ``[[clients]]`` tables of the TOML config
file. They only describe; ``gateway.config.check`` judges cross-references and
``gateway.config.sync`` writes them to the database at start.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

LEIKA_PATTERN = r"^urn:de:fim:leika:leistung:\d{14}$"
ARS_PATTERN = r"^(DE|\d{2}|\d{3}|\d{5}|\d{9}|\d{12})$"

DestinationStatus = Literal["created", "active", "inactive", "decommissioned"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubmissionSchemaConfig(_Strict):
    """A data schema a service accepts, e.g. ``urn:xoev-de:bmk:standard:xbau_2.6``."""

    schema_uri: str = Field(min_length=1, max_length=200, description="schemaUri as senders declare it")
    mime_type: Literal["application/xml", "application/json"] = Field(description="media type of the data")


class AdapterBinding(_Strict):
    """Which adapter delivers a service's submissions, with the adapter's own options."""

    name: str = Field(min_length=1, description="adapter name in the xoev_gateway.adapters entry-point group")
    options: dict[str, Any] = Field(default_factory=dict, description="options validated by the adapter")


class ServiceConfig(_Strict):
    """A public service (LeiKa) a destination offers, where, and in which data formats."""

    identifier: str = Field(
        pattern=LEIKA_PATTERN, description="LeiKa URN urn:de:fim:leika:leistung:<14 digits>"
    )
    name: str = Field(default="", max_length=255, description="human-readable service name")
    regions: list[str] = Field(default_factory=list, description="ARS region keys the service covers")
    submission_schemas: list[SubmissionSchemaConfig] = Field(min_length=1)
    reply_channels: dict[str, Any] = Field(default_factory=dict, description="FIT-Connect replyChannels")
    adapter: AdapterBinding | None = Field(default=None, description="delivery binding for this service")


class DestinationConfig(_Strict):
    """A Zustellpunkt: the address senders submit to, owned by one tenant."""

    id: UUID
    name: str = Field(default="", max_length=255)
    status: DestinationStatus = "active"
    services: list[ServiceConfig] = Field(min_length=1)
    metadata_versions: list[str] = Field(default_factory=lambda: ["1.0.0"], min_length=1)
    reply_channels: dict[str, Any] = Field(default_factory=dict)
    encryption_kid: str | None = Field(
        default=None, description="pin the current encryption key; default: the newest generated key"
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
