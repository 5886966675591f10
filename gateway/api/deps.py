"""Typed FastAPI dependencies: what a route needs, built once by the composition root.

``gateway.app`` puts one :class:`ApiServices` on ``app.state.services`` in the app's lifespan;
routes ask for the single service they use (``IntakeService``, ``Sessions``, …), never for the
whole bag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.api.addressing import Addressing
from gateway.api.throttle import ClientSlots
from gateway.api.tokens import TokenIssuer
from gateway.config.settings import Limits
from gateway.stages.intake.service import Intake
from gateway.stages.validate import Validator

__all__ = [
    "AddressingOf",
    "ApiServices",
    "Contacts",
    "DryRunSlots",
    "IntakeService",
    "Jwks",
    "LimitsOf",
    "Sessions",
    "Tokens",
    "ValidatorService",
]


@dataclass(frozen=True)
class ApiServices:
    """Everything the HTTP API uses."""

    sessions: async_sessionmaker[AsyncSession]
    limits: Limits
    tokens: TokenIssuer
    intake: Intake
    validator: Validator
    jwks: dict[str, Any]
    addressing: Addressing
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  #: destination → contactInformation
    dry_runs: ClientSlots = field(default_factory=ClientSlots)


def _services(request: Request) -> ApiServices:
    return cast(ApiServices, request.app.state.services)


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return _services(request).sessions


def _limits(request: Request) -> Limits:
    return _services(request).limits


def _tokens(request: Request) -> TokenIssuer:
    return _services(request).tokens


def _intake(request: Request) -> Intake:
    return _services(request).intake


def _validator(request: Request) -> Validator:
    return _services(request).validator


def _dry_runs(request: Request) -> ClientSlots:
    return _services(request).dry_runs


def _jwks(request: Request) -> dict[str, Any]:
    return _services(request).jwks


def _addressing(request: Request) -> Addressing:
    return _services(request).addressing


def _contacts(request: Request) -> dict[str, dict[str, Any]]:
    return _services(request).contacts


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
LimitsOf = Annotated[Limits, Depends(_limits)]
Tokens = Annotated[TokenIssuer, Depends(_tokens)]
IntakeService = Annotated[Intake, Depends(_intake)]
ValidatorService = Annotated[Validator, Depends(_validator)]
DryRunSlots = Annotated[ClientSlots, Depends(_dry_runs)]
Jwks = Annotated[dict[str, Any], Depends(_jwks)]
AddressingOf = Annotated[Addressing, Depends(_addressing)]
Contacts = Annotated[dict[str, dict[str, Any]], Depends(_contacts)]
