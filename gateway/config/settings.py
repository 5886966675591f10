"""One settings model: ``XGW_`` environment variables over an optional TOML config file over defaults.

Nested groups use ``__`` in environment variables (``XGW_LIMITS__MAX_ATTACHMENT_BYTES``). The TOML
file holds the same keys plus the declarations ``[[tenants]]`` and ``[[clients]]``.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.config.model import ClientConfig, OperatorConfig, TenantConfig
from gateway.errors import ConfigError

MB = 1024 * 1024


class Limits(BaseModel):
    """Size limits on every input (FIT-Connect's published limits by default)."""

    max_attachment_bytes: int = Field(500 * MB, gt=0, description="one encrypted attachment")
    max_submission_bytes: int = Field(
        2048 * MB, gt=0, description="all encrypted attachments of a submission"
    )
    max_attachments: int = Field(100, gt=0, le=10_000, description="announced attachments per submission")
    max_json_body_bytes: int = Field(
        64 * MB, gt=0, description="JSON request bodies (metadata and data JWEs)"
    )
    max_form_body_bytes: int = Field(8 * 1024, gt=0, description="the form body of POST /token")
    max_inflated_bytes: int = Field(
        64 * MB, gt=0, description="plaintext of metadata and data together, held in memory to be checked"
    )
    max_metadata_bytes: int = Field(4 * MB, gt=0, description="plaintext of the metadata")
    max_dry_run_plaintext_bytes: int = Field(
        64 * MB, gt=0, description="plaintext of all parts of a dry run together (attachments included)"
    )
    max_dry_runs_per_client: int = Field(2, ge=1, description="dry runs in progress per client; more is 429")
    min_free_blob_bytes: int = Field(
        64 * MB, ge=0, description="free space on the blob disk below which /readyz fails"
    )


class HttpSettings(BaseModel):
    """The HTTP front door: limits that hold without a reverse proxy in front."""

    max_header_bytes: int = Field(
        32 * 1024, ge=1024, le=1024 * 1024, description="request line and headers together; more is 431"
    )
    max_headers: int = Field(100, ge=10, le=10_000, description="header fields per request; more is 431")
    header_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="to receive the request line and headers; slower is 408"
    )
    min_body_bytes_per_second: int = Field(
        1024, ge=0, description="slowest upload kept, averaged per window; 0 switches the check off"
    )
    body_rate_window_seconds: float = Field(10.0, gt=0, le=600, description="window of the body rate check")
    max_concurrent_requests: int = Field(512, ge=1, description="requests in flight at once; more is 503")
    max_concurrent_per_client: int = Field(
        64, ge=1, description="requests in flight per client (token subject, else address); more is 503"
    )
    token_requests_per_minute: int = Field(600, ge=1, description="POST /token per address; more is 429")
    failed_auth_per_minute: int = Field(
        60, ge=1, description="failed authentications per address; beyond, credentials get 429"
    )
    not_found_per_minute: int = Field(
        300, ge=1, description="404 answers per client (token subject, else address); beyond, 429"
    )


class DeliverySettings(BaseModel):
    """Broker topology and the retry policy of the stages."""

    namespace: str = Field("xgw", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="queue name prefix")
    prefetch: int = Field(10, ge=1, le=1000, description="unacknowledged messages per consumer")
    max_attempts: int = Field(8, ge=1, le=100, description="deliveries before a message is parked")
    delivery_limit: int = Field(
        5, ge=1, le=1000, description="redeliveries after consumer crashes before the broker parks a message"
    )
    retry_delays_ms: list[int] = Field(
        default_factory=lambda: [1_000, 4_000, 16_000, 64_000, 256_000, 900_000],
        min_length=1,
        description="delay before retry n (the last one repeats)",
    )
    deliver_timeout_seconds: float = Field(
        300.0, gt=0, le=3600, description="longest adapter call; a slower one counts as a transient failure"
    )
    relay_batch_size: int = Field(100, ge=1, le=10_000, description="outbox rows published per round")
    relay_poll_seconds: float = Field(
        5.0,
        gt=0,
        description="outbox poll interval when idle, a safety net only: a commit that writes outbox "
        "rows wakes the relay at once (in its process, and through PostgreSQL LISTEN/NOTIFY)",
    )


class CallbackSettings(BaseModel):
    """Sender callbacks (FIT-Connect: HTTPS only). Loosen only for local development."""

    require_https: bool = Field(True, description="refuse callback URLs that are not https")
    allow_private_networks: bool = Field(False, description="allow loopback and private addresses")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="per callback request")


DAY = 86_400


class RetentionSettings(BaseModel):
    """When ciphertext blobs are deleted; FIT-Connect's deadlines by default (PROTOCOL.md §10.2).
    The event log and the submission rows are kept."""

    final_grace_seconds: int = Field(
        7 * DAY, ge=0, description="after a submission is delivered or rejected (FIT-Connect: 7 days)"
    )
    incomplete_seconds: int = Field(
        DAY, ge=0, description="after create, the attachments of a submission never submitted (1 day)"
    )
    unfinished_seconds: int = Field(
        21 * DAY, ge=0, description="after submit, a submission neither delivered nor rejected (21 days)"
    )
    orphan_age_seconds: int = Field(
        3600, ge=60, description="blobs no row references and .part files older than this are swept"
    )
    sweep_interval_seconds: float = Field(600.0, gt=0, description="between sweeps (the workers run them)")


class Settings(BaseSettings):
    """Every knob of the gateway. ``Settings.load()`` is the only way the CLI builds one."""

    model_config = SettingsConfigDict(env_prefix="XGW_", env_nested_delimiter="__", extra="forbid")

    host: str = Field("127.0.0.1", description="interface the HTTP server binds")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port")
    base_url: str | None = Field(None, description="public base URL (SET issuer); default http://host:port")
    data_dir: Path = Field(
        Path("xgw-data"), description="SQLite file, blobs and keys of the embedded default"
    )
    database_url: str | None = Field(None, description="SQLAlchemy async URL; default SQLite in data_dir")
    amqp_url: SecretStr | None = Field(None, description="RabbitMQ URL; default the in-process broker")
    key_dir: Path | None = Field(None, description="private keys (0600); default data_dir/keys")
    log_format: Literal["auto", "json", "console"] = Field("auto", description="auto: console on a terminal")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    token_ttl_seconds: int = Field(1800, gt=0, le=86_400, description="lifetime of access tokens")
    run_stages: bool = Field(True, description="run the relay and the stage consumers in this process")
    limits: Limits = Field(default_factory=Limits)
    http: HttpSettings = Field(default_factory=HttpSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    tenants: list[TenantConfig] = Field(default_factory=list)
    clients: list[ClientConfig] = Field(default_factory=list)
    operators: list[OperatorConfig] = Field(default_factory=list)

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def keys_path(self) -> Path:
        return self.key_dir or self.data_dir / "keys"

    @property
    def blobs_path(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'gateway.db'}"

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Defaults, then the TOML file (argument or ``XGW_CONFIG``), then ``XGW_*``, then overrides.

        Raises ``pydantic.ValidationError`` (with key paths), or ``ConfigError`` naming the file
        when it cannot be read or is not TOML (with line and column).
        """
        path = config_file or (Path(os.environ["XGW_CONFIG"]) if os.environ.get("XGW_CONFIG") else None)
        merged = _read_toml(path) if path is not None else {}
        from_env = cls()  # reads XGW_* only; what it sets explicitly wins over the file
        _deep_update(merged, _explicit(from_env))
        _deep_update(merged, overrides)
        return cls.model_validate(merged)


_TOML_POSITION = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; ``ConfigError`` says which file, and where in it, when it cannot be."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (given by --config or XGW_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_POSITION.match(str(exc))
        where = f"{path}, line {found['line']}, column {found['column']}" if found else str(path)
        message = found["message"] if found else str(exc)
        raise ConfigError(f"config file {where}: not valid TOML: {message}") from None


def _explicit(model: BaseModel) -> dict[str, Any]:
    """The fields a model was given explicitly, recursively (not its defaults)."""
    out: dict[str, Any] = {}
    for name in model.model_fields_set:
        value = getattr(model, name)
        out[name] = _explicit(value) if isinstance(value, BaseModel) else value
    return out


def _deep_update(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value
