"""Composition root: the only place that builds the gateway's parts and wires them together.

A process runs one or more roles on one database and one broker:

* ``api``: the HTTP API (intake, dry run, event log); no adapters, no consumers;
* ``relay``: publishes the outbox to the broker;
* ``workers``: the stage handlers (validate, deliver, callbacks) with the adapters, the
  consumer of dead letters, the blob sweep (retention, orphans), the rejection of submissions
  parked longer than their destination's ``reject_parked_after`` and the drain of stale copies
  in the parked deliver queues.

``xgw serve`` runs all three (``run_stages = false`` leaves only ``api``); ``xgw api``,
``xgw relay`` and ``xgw worker`` one each. What is loaded from disk and entry points (schema
catalogue, metadata schemas, adapter registry) is loaded once per process (:class:`Libraries`).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from fastapi import FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.adapters.host import AdapterHealth, AdapterRegistry, BoundAdapter
from gateway.api import docs, openapi, problems
from gateway.api.addressing import Addressing
from gateway.api.admin import AdminServices
from gateway.api.admin import router as admin_router
from gateway.api.auth import router as auth_router
from gateway.api.dashboard import build_services as dashboard_services
from gateway.api.dashboard import router as dashboard_router
from gateway.api.deps import ApiServices
from gateway.api.info import router as info_router
from gateway.api.operations import OperationsServices
from gateway.api.operations import router as operations_router
from gateway.api.routing import router as routing_router
from gateway.api.submissions import build_router
from gateway.api.subscriber import build_router as subscriber_router
from gateway.api.subscriber_services import SubscriberServices
from gateway.api.throttle import Throttle
from gateway.api.tokens import TokenIssuer
from gateway.api.validate import router as validate_router
from gateway.api.wellknown import router as wellknown_router
from gateway.broker import Broker, Consumer, Handler, MemoryBroker, RetryPolicy, Topology, create_broker
from gateway.broker.consuming import consume_dead_letters
from gateway.config.settings import Settings
from gateway.config.sync import sync_config
from gateway.content import Schemas
from gateway.crypto.keys import KeyStore
from gateway.events.sets import SetSigner, gateway_signer
from gateway.operations.keys import KeyService, pinned_kids
from gateway.operations.maintenance import Maintenance
from gateway.operations.parked import ParkedService
from gateway.routing.bindings import AdapterBindings
from gateway.routing.recovery import requeue_in_flight
from gateway.routing.subscribers import Subscribers
from gateway.stages.callbacks import CallbackSender, CallbackStage
from gateway.stages.deliver import DeliverStage
from gateway.stages.deliver.handoff import SubscriberHandoff
from gateway.stages.intake.service import Intake
from gateway.stages.parked_copies import ParkedCopies
from gateway.stages.parked_expiry import ParkedExpiry
from gateway.stages.periodic import Periodic
from gateway.stages.pickup.answers import PickupService
from gateway.stages.pickup.tokens import SubscriberTokens
from gateway.stages.relay import Relay
from gateway.stages.sweep import Sweeper
from gateway.stages.validate import Validator
from gateway.store.blobs import BlobStore
from gateway.store.db import open_database
from gateway.store.destination_keys import KeyRecords
from gateway.store.listen import OutboxListener
from gateway.store.outbox import DatabaseOutbox, wake_on_commit
from gateway.store.parked import ParkedStore
from gateway.store.pauses import Pauses
from gateway.store.readmodel import ReadModel
from gateway.validation import JsonSchemaRegistry, MetadataSchemas, SchemaCatalogue, default_schema_root

log = structlog.get_logger()
Role = Literal["api", "relay", "workers"]
ALL_ROLES: frozenset[Role] = frozenset({"api", "relay", "workers"})


@dataclass(frozen=True)
class Libraries:
    """Loaded once per process: the XSD catalogue (sets compile on first use), the metadata
    schemas, the JSON Schema registry and the adapter registry."""

    catalogue: SchemaCatalogue
    metadata: MetadataSchemas
    json: JsonSchemaRegistry
    registry: AdapterRegistry

    @classmethod
    def load(cls) -> Libraries:
        """The process's libraries, read on first use: schema files and installed adapters do not
        change while it runs, and every gateway the process composes shares them."""
        return _libraries()

    def schemas(self, settings: Settings, *, warm: bool = True) -> Schemas:
        """The schemas; with ``warm`` the sets the configuration uses are compiled now."""
        if not warm:
            return Schemas(self.catalogue, self.metadata, self.json)
        self.catalogue.warm(
            s.schema_uri
            for t in settings.tenants
            for d in t.destinations
            for v in d.services
            for s in v.submission_schemas
        )
        return Schemas(self.catalogue, self.metadata, self.json)


@functools.cache
def _libraries() -> Libraries:
    root = default_schema_root()
    return Libraries(
        SchemaCatalogue.load(root, lazy=True),
        MetadataSchemas.load(root),
        JsonSchemaRegistry.load(root),
        AdapterRegistry.discover(),
    )


@dataclass
class Gateway:
    """The parts of this process (for the API, the CLI and tests); ``consumers`` and ``relay``
    exist only in the roles that run them."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    keys: KeyStore
    signer: SetSigner
    jwks: dict[str, Any]
    intake: Intake
    validator: Validator
    broker: Broker | None = None
    relay: Relay | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)  #: queue → stage handler (workers)
    consumers: list[Consumer] = field(default_factory=list)
    #: the latest ``check()`` result of each adapter binding (workers); the readiness probe reads it
    adapter_health: AdapterHealth = field(default_factory=AdapterHealth)
    expiry: ParkedExpiry | None = None  #: rejects what is parked too long (workers)
    parked_copies: ParkedCopies | None = None  #: drains stale parked deliver messages (workers)


def topology_of(settings: Settings) -> Topology:
    retry = RetryPolicy(
        max_attempts=settings.delivery.max_attempts, delays_ms=tuple(settings.delivery.retry_delays_ms)
    )
    return Topology(
        namespace=settings.delivery.namespace, retry=retry, delivery_limit=settings.delivery.delivery_limit
    )


def broker_of(settings: Settings) -> Broker:
    url = settings.amqp_url.get_secret_value() if settings.amqp_url else None
    return create_broker(url, topology_of(settings))


def active_destinations(settings: Settings) -> list[str]:
    return [str(d.id) for t in settings.tenants for d in t.destinations if d.status != "decommissioned"]


@asynccontextmanager
async def open_gateway(
    settings: Settings, roles: frozenset[Role] | None = None, libraries: Libraries | None = None
) -> AsyncIterator[Gateway]:
    """Open the database (migrated), sync the declared configuration and run ``roles`` (default:
    all, or only ``api`` when ``settings.run_stages`` is off) until the context exits."""
    if roles is None:
        roles = ALL_ROLES if settings.run_stages else frozenset({"api"})
    libraries = libraries or Libraries.load()
    keys = KeyStore(settings.keys_path)
    async with AsyncExitStack() as stack:
        engine, sessions = await open_database(settings.database)
        stack.push_async_callback(engine.dispose)
        await sync_config(sessions, settings, keys)
        signer, jwks = gateway_signer(keys, settings.public_url)
        blobs = BlobStore(settings.blobs_path)
        schemas = libraries.schemas(settings, warm=bool(roles & {"api", "workers"}))
        validator = Validator(
            sessions,
            blobs,
            keys,
            schemas.catalogue,
            schemas.metadata,
            settings.limits,
            json_schemas=schemas.json,
        )
        intake = Intake(sessions, blobs, settings.limits, signer)
        gateway = Gateway(settings, engine, sessions, blobs, keys, signer, jwks, intake, validator)
        if roles & {"relay", "workers"}:
            gateway.broker = broker_of(settings)
            stack.push_async_callback(gateway.broker.close)
            await _start_stages(stack, gateway, roles, libraries)
        yield gateway


async def _start_stages(
    stack: AsyncExitStack, gateway: Gateway, roles: frozenset[Role], libraries: Libraries
) -> None:
    settings, broker = gateway.settings, gateway.broker
    assert broker is not None
    destinations = active_destinations(settings)
    await broker.declare(destinations)
    if "workers" in roles:
        gateway.handlers = await _stage_handlers(stack, gateway, destinations, libraries)
    stack.push_async_callback(_stop, gateway)  # before the adapters close: consumers drain first
    if "relay" in roles:
        outbox = DatabaseOutbox(gateway.sessions, broker.topology.route)
        gateway.relay = Relay(
            outbox,
            broker,
            batch_size=settings.delivery.relay_batch_size,
            poll_interval=settings.delivery.relay_poll_seconds,
        )
        wake_on_commit(gateway.sessions, gateway.relay.notify)  # rows written in this process
        if gateway.engine.dialect.name == "postgresql":  # rows written by any process
            listener = OutboxListener(gateway.engine, gateway.relay.notify)
            listener.start()
            stack.push_async_callback(listener.stop)
    if "workers" in roles:
        if isinstance(broker, MemoryBroker):  # nothing survived on the broker side: ask the database
            recovered = await requeue_in_flight(gateway.sessions)
            if recovered:
                log.info("in_flight_requeued", submissions=recovered)
        for queue, handler in gateway.handlers.items():
            gateway.consumers.append(
                await broker.consume(queue, handler, prefetch=settings.delivery.prefetch)
            )
        gateway.consumers.append(await consume_dead_letters(broker, gateway.handlers))
        gateway.expiry = ParkedExpiry(parked_service(gateway), reject_parked_after(settings))
        gateway.parked_copies = ParkedCopies(broker, gateway.sessions, destinations)
        rounds = {  # at start and periodically
            "blob_sweep": Sweeper(gateway.sessions, gateway.blobs, settings.retention).run_once,
            "parked_copies": gateway.parked_copies.run_once,
        }
        if gateway.expiry.limits:  # some destination sets reject_parked_after
            rounds["parked_expiry"] = gateway.expiry.run_once
        for name, work in rounds.items():
            periodic = Periodic(name, settings.retention.sweep_interval_seconds, work)
            periodic.start()
            stack.push_async_callback(periodic.stop)
    if gateway.relay is not None:
        gateway.relay.start()
    log.info("pipeline_started", queues=[c.queue for c in gateway.consumers], relay=gateway.relay is not None)


async def _stage_handlers(
    stack: AsyncExitStack, gateway: Gateway, destinations: list[str], libraries: Libraries
) -> dict[str, Handler]:
    """Queue name → handler of every work queue; adapters are started (and closed with the stack)."""
    settings = gateway.settings
    assert gateway.broker is not None
    topology = gateway.broker.topology
    bindings = AdapterBindings.build(
        libraries.registry, settings.tenants, topology.retry, settings.delivery.deliver_timeout_seconds
    )
    for adapter in bindings.all():
        await adapter.start()
        stack.push_async_callback(adapter.close)
    await gateway.adapter_health.check(  # a failing binding is logged and kept, not fatal
        (
            BoundAdapter(str(d.id), s.identifier, b.name, b.adapter)
            for t in settings.tenants
            for d in t.destinations
            for s in d.services
            if (b := bindings.get(str(d.id), s.identifier)) is not None
        ),
        timeout_seconds=10.0,
    )
    sender = CallbackSender(
        gateway.sessions,
        timeout=settings.callbacks.timeout_seconds,
        require_https=settings.callbacks.require_https,
        allow_private_networks=settings.callbacks.allow_private_networks,
    )
    stack.push_async_callback(sender.aclose)
    deliver = DeliverStage(
        gateway.sessions,
        gateway.blobs,
        gateway.keys,
        bindings,
        settings.limits,
        wrap_keys=gateway.validator.wrap_keys,  # one cache of the local wrap keys per process
    )
    handlers: dict[str, Handler] = {
        topology.validate_queue: gateway.validator,
        topology.callback_queue: CallbackStage(gateway.sessions, sender),
    }
    subscribers = Subscribers.from_tenants(settings.tenants)
    if subscribers:  # the fit-connect-subscriber binding takes the destinations it covers
        deliver = SubscriberHandoff(  # type: ignore[assignment]
            deliver, subscribers, gateway.sessions, gateway.blobs, gateway.keys, settings.limits
        )
    for destination in destinations:
        handlers[topology.deliver_queue(destination)] = deliver
    return handlers


async def _stop(gateway: Gateway, grace: float = 30.0) -> None:
    """Drain consumers, finish the relay's batch (the broker closes after the adapters)."""
    for consumer in gateway.consumers:
        await consumer.stop(grace)
    if gateway.relay is not None:
        await gateway.relay.stop(grace)
    log.info("pipeline_stopped")


def api_services(gateway: Gateway) -> ApiServices:
    """What the HTTP API uses of this process's parts."""
    settings = gateway.settings
    tokens = TokenIssuer(
        gateway.keys.secret("token-signing"), settings.public_url, settings.token_ttl_seconds
    )
    signer = gateway.signer
    return ApiServices(
        gateway.sessions,
        settings.limits,
        tokens,
        gateway.intake,
        gateway.validator,
        dict(gateway.jwks),
        Addressing(settings.public_url, signer.kid, signer.key),
        {str(d.id): d.contact_information for t in settings.tenants for d in t.destinations},
    )


async def _request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await call_next(request)
    response.headers["X-Request-Id"] = request_id
    return response


def reject_parked_after(settings: Settings) -> dict[str, dt.timedelta]:
    """Destination id → how long its submissions may stay parked, for those that set a limit."""
    return {
        str(d.id): d.reject_parked_after
        for t in settings.tenants
        for d in t.destinations
        if d.reject_parked_after is not None
    }


def parked_service(gateway: Gateway) -> ParkedService:
    """The operations on parked submissions on this process's database, keys and blobs."""
    return ParkedService(
        ParkedStore(gateway.sessions),
        gateway.blobs,
        gateway.keys,
        gateway.validator.schemas,
        gateway.settings.limits,
    )


def admin_services(gateway: Gateway) -> AdminServices:
    """The admin routes' services on this process's database, keys and blobs."""
    settings = gateway.settings
    parked = parked_service(gateway)
    maintenance = Maintenance(Pauses(gateway.sessions))
    keys = KeyService(KeyRecords(gateway.sessions), gateway.keys, pinned_kids(settings))
    return AdminServices(
        settings, parked, maintenance, ReadModel(gateway.sessions), topology_of(settings), keys
    )


def subscriber_services(gateway: Gateway) -> SubscriberServices:
    """The subscriber API's services (``fit-connect-subscriber`` bindings) on this process's parts."""
    settings = gateway.settings
    senders = [c.id for c in settings.clients]
    tokens = SubscriberTokens(
        gateway.keys.secret("token-signing"), settings.public_url, settings.token_ttl_seconds
    )
    pickups = PickupService(gateway.sessions, gateway.blobs, gateway.keys, gateway.signer)
    return SubscriberServices(Subscribers.from_tenants(settings.tenants, senders), tokens, pickups)


def _tokens_of(app: FastAPI) -> TokenIssuer | None:
    """The token issuer once the lifespan has built the services."""
    services: ApiServices | None = getattr(app.state, "services", None)
    return services.tokens if services else None


def create_app(settings: Settings, libraries: Libraries | None = None) -> FastAPI:
    """The HTTP application; its lifespan opens (and closes) the gateway."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_gateway(settings, libraries=libraries) as gateway:
            app.state.gateway = gateway
            app.state.services = api_services(gateway)
            app.state.subscriber = subscriber_services(gateway)
            app.state.operations = OperationsServices.build(
                settings,
                ReadModel(gateway.sessions),
                topology_of(settings),
                gateway.validator.schemas.catalogue.knows,
                gateway.adapter_health,
                runs_stages=gateway.broker is not None,
            )
            app.state.admin = admin_services(gateway)
            app.state.dashboard = dashboard_services(
                app.state.admin, gateway.keys.secret("dashboard-session"), gateway.adapter_health
            )
            log.info("gateway_started", base_url=settings.public_url)
            yield
        log.info("gateway_stopped")

    app = FastAPI(
        title="xoev-gateway",
        summary="FIT-Connect Submission API with XÖV validation and delivery to Fachverfahren",
        version="0.1.0",
        lifespan=lifespan,
        openapi_tags=openapi.TAGS,
        docs_url=None,  # docs.install serves both pages without a CDN
        redoc_url=None,
        redirect_slashes=False,  # a decoded "../" or "%2f" id is a 404, never a redirect elsewhere
    )
    problems.install(app)
    docs.install(app)
    app.middleware("http")(_request_context)
    app.add_middleware(Throttle, limits=settings.http, tokens=lambda: _tokens_of(app))
    app.include_router(auth_router)
    app.include_router(wellknown_router)
    app.include_router(build_router("v1"))
    app.include_router(build_router("v2"))
    app.include_router(subscriber_router("v1"))
    app.include_router(subscriber_router("v2"))
    app.include_router(routing_router)
    app.include_router(info_router)
    app.include_router(validate_router)
    app.include_router(operations_router)
    app.include_router(admin_router)
    app.include_router(dashboard_router)
    return app
