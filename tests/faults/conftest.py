"""Fixtures of the fault tests: a fresh PostgreSQL database, a uuid RabbitMQ namespace, keys,
a vendor endpoint and the gateway's processes, all removed again at the end.

Unreachable RabbitMQ or PostgreSQL: skip locally, fail with ``CI=true``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Protocol

import asyncpg
import pytest

from gateway.broker import RetryPolicy, Topology
from tests.conftest import ACTIVE, IN_CI, PG_ADMIN_URL, SECRET
from tests.faults.checker import rabbitmqctl
from tests.faults.cluster import VENDOR_SECRET, CountingVendor, GatewayCluster, write_config
from tests.faults.nemesis import BROKER
from tests.integration.delivery.conftest import AMQP_URL, delete_topology, require_rabbitmq

RETRY_DELAYS_MS = (200, 500, 1000)
MAX_ATTEMPTS = 30  # 30 attempts ≈ 26 s of retries: a few seconds of faults never park anything
DELIVER_TIMEOUT_SECONDS = 15  # bounds an adapter call (the http adapter's own timeout is 10 s)
PG_DSN = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def fault_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database; yields its asyncpg DSN; dropped at the end."""
    name = f"xgwf_{uuid.uuid4().hex[:16]}"
    try:
        admin = await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {PG_DSN} is unreachable: {exc!r}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield PG_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class FaultRig:
    """Everything one scenario needs: the vendor, the processes, the namespace, the DSN."""

    def __init__(self, cluster: GatewayCluster, vendor: CountingVendor, namespace: str, dsn: str) -> None:
        self.cluster, self.vendor, self.namespace, self.dsn = cluster, vendor, namespace, dsn
        self.topology = Topology(namespace=namespace, retry=RetryPolicy(MAX_ATTEMPTS, RETRY_DELAYS_MS))

    @property
    def work_queues(self) -> list[str]:
        """The queues that must have consumers at the end: process and the destination's."""
        return [self.topology.validate_queue, self.topology.deliver_queue(ACTIVE)]


class RigFactory(Protocol):
    def __call__(
        self,
        vendor_delay: float = 0.0,
        adapter_timeout: float = 10.0,
        vendor_type: type[CountingVendor] = CountingVendor,
        **env: str,
    ) -> Awaitable[FaultRig]: ...


@pytest.fixture
async def rig_factory(
    tmp_path: Path, key_template: Path, secret_hashes: dict[str, str], fault_database: str
) -> AsyncIterator[RigFactory]:
    """``await make(vendor_delay=..., adapter_timeout=..., vendor_type=..., **env)`` → a
    :class:`FaultRig` with nothing started yet (``adapter_timeout``: the ``http`` adapter's timeout
    per operation; ``env`` overrides the processes' ``XGW_*``, e.g. ``XGW_DATABASE_URL``)."""
    await require_rabbitmq()
    namespace = f"f{uuid.uuid4().hex[:12]}"
    made: list[FaultRig] = []

    async def make(
        vendor_delay: float = 0.0,
        adapter_timeout: float = 10.0,
        vendor_type: type[CountingVendor] = CountingVendor,
        **env: str,
    ) -> FaultRig:
        (tmp_path / "spool").mkdir()
        vendor = vendor_type(tmp_path / "spool", secret=VENDOR_SECRET, delay=vendor_delay)
        vendor.start()
        shutil.copytree(key_template, tmp_path / "keys")
        config = tmp_path / "xgw.toml"
        write_config(config, vendor.url, secret_hashes[SECRET], adapter_timeout)
        base = {
            "XGW_CONFIG": str(config),
            "XGW_DATABASE_URL": fault_database.replace("postgresql://", "postgresql+asyncpg://"),
            "XGW_AMQP_URL": AMQP_URL,
            "XGW_DATA_DIR": str(tmp_path / "data"),
            "XGW_KEY_DIR": str(tmp_path / "keys"),
            "XGW_LOG_FORMAT": "json",
            "XGW_LOG_LEVEL": "info",
            "XGW_DELIVERY__NAMESPACE": namespace,
            "XGW_DELIVERY__RETRY_DELAYS_MS": "[" + ",".join(map(str, RETRY_DELAYS_MS)) + "]",
            "XGW_DELIVERY__MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "XGW_DELIVERY__RELAY_POLL_SECONDS": "0.2",
            # A worker killed mid-call holds its claim for this + 10 s: the next attempt waits
            # that long (the default, 300 s, would outlast every scenario).
            "XGW_DELIVERY__DELIVER_TIMEOUT_SECONDS": str(DELIVER_TIMEOUT_SECONDS),
        }
        rig = FaultRig(GatewayCluster(tmp_path, {**base, **env}), vendor, namespace, fault_database)
        made.append(rig)
        return rig

    try:
        yield make
    finally:
        try:
            if BROKER.stopped:  # a scenario failed between stop_app and start_app
                await rabbitmqctl("start_app")
                await rabbitmqctl("await_startup")
                BROKER.stopped = False
        finally:
            for rig in made:
                rig.cluster.stop_all()
                rig.vendor.stop()
                await delete_topology(rig.topology, (ACTIVE,))
