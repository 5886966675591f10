"""The ``fit-connect-subscriber`` delivery binding of a destination, as the config file declares it.

A Fachverfahren that speaks FIT-Connect itself picks the destination's submissions up through the
gateway's subscriber API instead of an adapter::

    [tenants.destinations.subscriber]
    client_id = "fachverfahren-musterstadt"
    secret_hash = "<output of xgw clients secret>"
    encryption_key = { kty = "RSA", kid = "…", alg = "RSA-OAEP-256", key_ops = ["wrapKey"], … }
    signing_key = { kty = "RSA", kid = "…", alg = "PS512", key_ops = ["verify"], … }

The keys are the Fachverfahren's public JWKs; ``xgw config check`` and every start judge them as
FIT-Connect judges destination keys (:mod:`gateway.config.check`, :mod:`gateway.crypto.jwk_check`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BINDING: Literal["fit-connect-subscriber"] = "fit-connect-subscriber"


class SubscriberConfig(BaseModel):
    """The Fachverfahren behind a destination: its API client and its public keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    binding: Literal["fit-connect-subscriber"] = Field(
        default=BINDING, description="the delivery binding's name (the only one for now)"
    )
    client_id: str = Field(
        pattern=r"^[A-Za-z0-9._-]{1,128}$", description="the subscriber client's OAuth client id"
    )
    secret_hash: str = Field(description="output of `xgw clients secret`; never the secret itself")
    encryption_key: dict[str, Any] = Field(
        description="the Fachverfahren's public encryption JWK (RSA-OAEP-256, wrapKey, RSA ≥ 4096, x5c)"
    )
    signing_key: dict[str, Any] = Field(
        description="the Fachverfahren's public SET signing JWK (PS512, verify, RSA ≥ 4096, x5c)"
    )
