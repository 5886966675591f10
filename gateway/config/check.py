"""``xgw config check``: every problem of a configuration, each with its key path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from gateway.config.model import RetryConfig
from gateway.config.settings import DeliverySettings, Settings
from gateway.config.subscriber import SubscriberConfig
from gateway.crypto.jwk_check import jwk_problems
from gateway.crypto.keys import KeyStore
from gateway.crypto.secrets import is_valid_hash


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def loc_path(loc: Iterable[int | str]) -> str:
    """``("tenants", 0, "id")`` → ``tenants[0].id``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_problems(error: ValidationError) -> list[ConfigProblem]:
    return [ConfigProblem(loc_path(e["loc"]) or "(root)", e["msg"]) for e in error.errors()]


def _retry_problems(where: str, retry: RetryConfig, delivery: DeliverySettings) -> list[ConfigProblem]:
    """A binding's delays must fit the delay levels, which the retry queues share."""
    longest = max(delivery.retry_delays_ms)
    return [
        ConfigProblem(
            f"{where}.delays_seconds[{i}]",
            f"longer than the longest delay level, {longest / 1000:g} s: add it to delivery.retry_delays_ms",
        )
        for i, delay in enumerate(retry.delays_ms or ())
        if delay > longest
    ]


def _duplicates(values: list[str]) -> set[str]:
    return {v for v, n in Counter(values).items() if n > 1}


def _subscriber_key_problems(where: str, subscriber: SubscriberConfig) -> list[ConfigProblem]:
    """The Fachverfahren's public keys, judged as FIT-Connect judges destination keys."""
    keys: dict[Literal["encryption", "signing"], dict[str, Any]] = {
        "encryption": subscriber.encryption_key,
        "signing": subscriber.signing_key,
    }
    return [
        ConfigProblem(f"{where}.{purpose}_key", f"not a usable {purpose} key: {problem}")
        for purpose, jwk in keys.items()
        for problem in jwk_problems(jwk, purpose)
    ]


def check_settings(
    settings: Settings,
    keys: KeyStore,
    *,
    knows_schema: Callable[[str], bool] | None = None,
    metadata_versions: set[str] | None = None,
    adapter_problems: Callable[[str, str, dict[str, Any]], str | None] | None = None,
    command: str = "xgw",
) -> list[ConfigProblem]:
    """Cross-reference checks on an already parsed configuration; hints call ``command``."""
    problems: list[ConfigProblem] = []
    add = problems.append
    tenant_ids = [t.id for t in settings.tenants]
    for dup in _duplicates(tenant_ids):
        add(ConfigProblem("tenants", f"tenant id {dup!r} is declared more than once"))
    destination_ids = [str(d.id) for t in settings.tenants for d in t.destinations]
    for dup in _duplicates(destination_ids):
        add(ConfigProblem("tenants", f"destination id {dup} is declared more than once"))
    for ti, tenant in enumerate(settings.tenants):
        for di, dest in enumerate(tenant.destinations):
            where = f"tenants[{ti}].destinations[{di}]"
            enc = [k.kid for k in keys.keys(str(dest.id)) if k.purpose == "encryption"]
            if not enc:
                add(ConfigProblem(where, f"no encryption key: run `{command} keys generate {dest.id}`"))
            elif dest.encryption_kid and dest.encryption_kid not in enc:
                add(ConfigProblem(f"{where}.encryption_kid", "no such encryption key in the key directory"))
            if dest.subscriber is not None:
                problems += _subscriber_key_problems(f"{where}.subscriber", dest.subscriber)
            for vi, version in enumerate(dest.metadata_versions):
                if metadata_versions is not None and version not in metadata_versions:
                    add(
                        ConfigProblem(
                            f"{where}.metadata_versions[{vi}]", f"unknown metadata version {version}"
                        )
                    )
            identifiers = [s.identifier for s in dest.services]
            for dup in _duplicates(identifiers):
                add(ConfigProblem(f"{where}.services", f"service {dup} is declared more than once"))
            for si, service in enumerate(dest.services):
                for ci, schema in enumerate(service.submission_schemas):
                    if (
                        knows_schema
                        and schema.mime_type == "application/xml"
                        and not knows_schema(schema.schema_uri)
                    ):
                        add(
                            ConfigProblem(
                                f"{where}.services[{si}].submission_schemas[{ci}].schema_uri",
                                f"the schema catalogue has no {schema.schema_uri}",
                            )
                        )
                if service.adapter is not None and adapter_problems is not None:
                    message = adapter_problems(str(dest.id), service.adapter.name, service.adapter.options)
                    if message:
                        add(ConfigProblem(f"{where}.services[{si}].adapter", message))
                if service.adapter is not None:
                    retry = f"{where}.services[{si}].adapter.retry"
                    problems += _retry_problems(retry, service.adapter.retry, settings.delivery)
    client_ids = [c.id for c in settings.clients]
    for dup in _duplicates(client_ids):
        add(ConfigProblem("clients", f"client id {dup!r} is declared more than once"))
    known = set(destination_ids)
    for ci, client in enumerate(settings.clients):
        where = f"clients[{ci}]"
        if not is_valid_hash(client.secret_hash):
            add(ConfigProblem(f"{where}.secret_hash", "not a hash from `xgw clients secret`"))
        if not client.destinations and not client.regions:
            add(ConfigProblem(where, "client may send nowhere: give destinations or regions"))
        for i, dest_id in enumerate(client.destinations):
            if str(dest_id) not in known:
                add(ConfigProblem(f"{where}.destinations[{i}]", f"unknown destination {dest_id}"))
        for i, region in enumerate(client.regions):
            if not (region == "DE" or (region.isdigit() and len(region) <= 12)):
                add(ConfigProblem(f"{where}.regions[{i}]", f"not an ARS prefix: {region!r}"))
    return problems
