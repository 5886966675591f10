"""Composition root: builds settings-driven parts (database, blobs, keys, signer, intake) and the
FastAPI app, and passes them down. Nothing else creates these objects.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.api import problems
from gateway.api.auth import TokenIssuer
from gateway.api.auth import router as auth_router
from gateway.api.submissions import build_router
from gateway.api.wellknown import router as wellknown_router
from gateway.config.sync import sync_config
from gateway.crypto.keys import KeyStore
from gateway.events.sets import SetSigner
from gateway.intake.service import Intake
from gateway.settings import Settings
from gateway.store.blobs import BlobStore
from gateway.store.db import open_database

log = structlog.get_logger()


@dataclass
class Gateway:
    """Everything a request or a worker needs, built once per process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    keys: KeyStore
    signer: SetSigner
    tokens: TokenIssuer
    intake: Intake
    jwks: dict[str, Any]


def gateway_signer(keys: KeyStore, issuer: str) -> tuple[SetSigner, dict[str, Any]]:
    """The gateway's own SET signing key (created on first start) and the JWKS that publishes it."""
    pairs = [k for k in keys.keys("gateway") if k.purpose == "signing"] or [keys.generate("gateway", "signing")]
    current = pairs[-1]
    return SetSigner(issuer, current.kid, current.private_key), {"keys": [p.public_jwk for p in pairs]}


@asynccontextmanager
async def open_gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """Open the database (migrated), sync the declared configuration, and build the services."""
    keys = KeyStore(settings.keys_path)
    engine, sessions = await open_database(settings.database)
    try:
        await sync_config(sessions, settings, keys)
        signer, jwks = gateway_signer(keys, settings.public_url)
        blobs = BlobStore(settings.blobs_path)
        tokens = TokenIssuer(keys.secret("token-signing"), settings.public_url, settings.token_ttl_seconds)
        intake = Intake(sessions, blobs, settings.limits, signer)
        yield Gateway(settings, engine, sessions, blobs, keys, signer, tokens, intake, jwks)
    finally:
        await engine.dispose()


async def _request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await call_next(request)
    response.headers["X-Request-Id"] = request_id
    return response


def create_app(settings: Settings) -> FastAPI:
    """The HTTP application; its lifespan opens (and closes) the gateway."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_gateway(settings) as gateway:
            app.state.gateway = gateway
            log.info("gateway_started", base_url=settings.public_url)
            yield
        log.info("gateway_stopped")

    app = FastAPI(
        title="xoev-gateway",
        summary="FIT-Connect Submission API with XÖV validation and delivery to Fachverfahren",
        version="0.1.0",
        lifespan=lifespan,
    )
    problems.install(app)
    app.middleware("http")(_request_context)
    app.include_router(auth_router)
    app.include_router(wellknown_router)
    app.include_router(build_router("v1"))
    app.include_router(build_router("v2"))
    return app
