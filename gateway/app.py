"""Composition root: builds settings-driven parts (database, blobs, keys, signer, intake) and the
FastAPI app, and passes them down. Nothing else creates these objects.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.api import problems
from gateway.api.auth import TokenIssuer
from gateway.api.auth import router as auth_router
from gateway.api.submissions import build_router
from gateway.api.validate import router as validate_router
from gateway.api.wellknown import router as wellknown_router
from gateway.config.sync import sync_config
from gateway.crypto.keys import KeyStore
from gateway.events.callbacks import CallbackSender
from gateway.events.sets import SetSigner
from gateway.intake.service import Intake
from gateway.pipeline import Pipeline, broker_of, start_pipeline
from gateway.routing.bindings import AdapterBindings
from gateway.routing.runner import DeliveryRunner
from gateway.settings import Settings
from gateway.stages import stage_handlers
from gateway.store.blobs import BlobStore
from gateway.store.db import open_database
from gateway.store.outbox import DatabaseOutbox
from gateway.validation import MetadataSchemas, SchemaCatalogue, default_schema_root
from gateway.validator import Validator

log = structlog.get_logger()
Role = Literal["relay", "workers"]


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
    validator: Validator
    outbox: DatabaseOutbox
    pipeline: Pipeline | None


def gateway_signer(keys: KeyStore, issuer: str) -> tuple[SetSigner, dict[str, Any]]:
    """The gateway's own SET signing key (created on first start) and the JWKS that publishes it."""
    pairs = [k for k in keys.keys("gateway") if k.purpose == "signing"] or [
        keys.generate("gateway", "signing")
    ]
    current = pairs[-1]
    return SetSigner(issuer, current.kid, current.private_key), {"keys": [p.public_jwk for p in pairs]}


def active_destinations(settings: Settings) -> list[str]:
    return [str(d.id) for t in settings.tenants for d in t.destinations if d.status != "decommissioned"]


def load_validator(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], blobs: BlobStore, keys: KeyStore
) -> Validator:
    """The validation stage with the schema catalogue (the configured schemas compiled now)."""
    root = default_schema_root()
    catalogue = SchemaCatalogue.load(root, lazy=True)
    catalogue.warm(
        s.schema_uri
        for t in settings.tenants
        for d in t.destinations
        for v in d.services
        for s in v.submission_schemas
    )
    return Validator(sessions, blobs, keys, catalogue, MetadataSchemas.load(root), settings.limits)


@asynccontextmanager
async def open_gateway(settings: Settings, roles: frozenset[Role] | None = None) -> AsyncIterator[Gateway]:
    """Open the database (migrated), sync the declared configuration, build the services and
    start the stage ``roles`` (default: relay and workers if ``settings.run_stages``)."""
    if roles is None:
        roles = frozenset({"relay", "workers"}) if settings.run_stages else frozenset()
    from gateway.adapters import AdapterRegistry

    keys = KeyStore(settings.keys_path)
    bindings = AdapterBindings.build(AdapterRegistry.discover(), settings.tenants)
    for adapter in bindings.all():
        await adapter.start()
    engine, sessions = await open_database(settings.database)
    pipeline: Pipeline | None = None
    callbacks = CallbackSender(
        sessions,
        timeout=settings.callbacks.timeout_seconds,
        require_https=settings.callbacks.require_https,
        allow_private_networks=settings.callbacks.allow_private_networks,
    )
    try:
        await sync_config(sessions, settings, keys)
        signer, jwks = gateway_signer(keys, settings.public_url)
        blobs = BlobStore(settings.blobs_path)
        tokens = TokenIssuer(keys.secret("token-signing"), settings.public_url, settings.token_ttl_seconds)
        intake = Intake(sessions, blobs, settings.limits, signer)
        validator = load_validator(settings, sessions, blobs, keys)
        broker = broker_of(settings)
        outbox = DatabaseOutbox(sessions, broker.topology)
        if roles:
            destinations = active_destinations(settings)
            runner = DeliveryRunner(sessions, blobs, keys, bindings, settings.limits, broker.topology.retry)
            handlers = stage_handlers(broker.topology, validator, runner, callbacks, destinations)
            if "workers" not in roles:
                handlers = {}
            pipeline = await start_pipeline(
                settings, outbox, broker, handlers, destinations, relay="relay" in roles
            )
            if pipeline.relay is not None:
                intake.outbox_written = validator.outbox_written = pipeline.relay.notify
        yield Gateway(
            settings, engine, sessions, blobs, keys, signer, tokens, intake, jwks, validator, outbox, pipeline
        )
    finally:
        if pipeline is not None:
            await pipeline.stop()
        await callbacks.aclose()
        for adapter in bindings.all():
            await adapter.close()
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
    app.include_router(validate_router)
    return app
