"""What a starting gateway prints: what it loaded and where it keeps things; never a secret
except the embedded demo client's, which exists to be copied."""

from __future__ import annotations

from gateway.config.embedded import EmbeddedTenant
from gateway.config.settings import Settings
from gateway.store.probe import describe as describe_database


def _broker(settings: Settings) -> str:
    if settings.amqp_url is None:
        return "in-process (nothing leaves this process)"
    from gateway.broker.amqp.probe import describe

    return "RabbitMQ " + describe(settings.amqp_url.get_secret_value())


def _row(label: str, value: object) -> str:
    return f"  {label:<15}: {value}"


def _loaded(settings: Settings) -> list[str]:
    lines = [_row("tenants", ", ".join(t.id for t in settings.tenants))]
    for tenant in settings.tenants:
        for dest in tenant.destinations:
            lines.append(_row("destination", f"{dest.id} {tenant.id}/{dest.name or '-'} ({dest.status})"))
            for service in dest.services:
                adapter = service.adapter.name if service.adapter else "no adapter"
                lines.append(_row("  service", f"{service.identifier} {service.name or ''} → {adapter}"))
    lines.append(_row("clients", ", ".join(c.id for c in settings.clients) or "none"))
    return lines


def _demo(settings: Settings, demo: EmbeddedTenant) -> list[str]:
    return [
        "No tenants configured: serving the embedded demo tenant.",
        _row("destination id", demo.destination_id),
        _row("client id", demo.client.id),
        _row("client secret", demo.client_secret),
        _row("token URL", f"{settings.public_url}/token"),
        _row("deliveries", settings.data_dir / "delivered"),
    ]


def banner(settings: Settings, demo: EmbeddedTenant | None, role: str, *, http: bool) -> str:
    """The lines a role prints before it starts."""
    lines = (
        _demo(settings, demo) if demo is not None else [f"Configuration loaded ({role}):", *_loaded(settings)]
    )
    if http:
        lines.append(_row("API", f"{settings.public_url}/v1 and /v2 (OpenAPI at {settings.public_url}/docs)"))
    lines += [
        _row("data dir", settings.data_dir),
        _row("database", describe_database(settings.database)),
        _row("broker", _broker(settings)),
    ]
    return "\n".join(lines)
