"""Settings base: pydantic-settings with one env prefix per service plus the shared SB_* connection URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common settings of every service.

    Subclasses set ``model_config = SettingsConfigDict(env_prefix="SB_<SERVICE>_")``. The connection URLs
    and the environment are shared by every service, so they are also read from their unprefixed
    ``SB_*`` names.
    """

    model_config = SettingsConfigDict(env_prefix="SB_", extra="ignore")

    service_name: str = "switchboard"
    env: Literal["development", "production", "test"] = Field(
        "development", validation_alias=AliasChoices("SB_ENV", "env")
    )
    log_level: str = Field("info", validation_alias=AliasChoices("SB_LOG_LEVEL", "log_level"))
    host: str = "0.0.0.0"
    port: int = 8080
    nats_url: str = Field(
        "nats://127.0.0.1:4222", validation_alias=AliasChoices("SB_NATS_URL", "nats_url")
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=AliasChoices("SB_REDIS_URL", "redis_url")
    )
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/switchboard",
        validation_alias=AliasChoices("SB_DATABASE_URL", "database_url"),
    )
    # PostgreSQL pool per process (keep replicas x pool max under the pooler's default_pool_size x instances), and
    # migrations: at start-up under an advisory lock (development), or by the `switchboard migrate` Job, the
    # services then waiting up to migrate_wait_s for their schema (production: SB_MIGRATE_ON_START=false).
    database_pool_min: int = Field(1, ge=0, validation_alias=AliasChoices("SB_DATABASE_POOL_MIN", "database_pool_min"))
    database_pool_max: int = Field(10, ge=1, validation_alias=AliasChoices("SB_DATABASE_POOL_MAX", "database_pool_max"))
    migrate_on_start: bool = Field(True, validation_alias=AliasChoices("SB_MIGRATE_ON_START", "migrate_on_start"))
    migrate_wait_s: float = Field(120.0, ge=0, validation_alias=AliasChoices("SB_MIGRATE_WAIT_S", "migrate_wait_s"))
    # Redis through Sentinel (production): "host:port,host:port" of the sentinels and the master's name; the
    # password of the data nodes (also accepted in SB_REDIS_URL) and, if they have one, of the sentinels.
    redis_sentinels: str = Field("", validation_alias=AliasChoices("SB_REDIS_SENTINELS", "redis_sentinels"))
    redis_master_name: str = Field("switchboard",
                                   validation_alias=AliasChoices("SB_REDIS_MASTER_NAME", "redis_master_name"))
    redis_password: str = Field("", validation_alias=AliasChoices("SB_REDIS_PASSWORD", "redis_password"))
    redis_sentinel_password: str = Field(
        "", validation_alias=AliasChoices("SB_REDIS_SENTINEL_PASSWORD", "redis_sentinel_password"))
    # Connections to Redis per process: a burst beyond them waits for a free one (up to redis_pool_timeout_s),
    # it is not refused (redis-py's own pool answers "Too many connections" past 100).
    redis_max_connections: int = Field(
        64, ge=1, validation_alias=AliasChoices("SB_REDIS_MAX_CONNECTIONS", "redis_max_connections"))
    redis_pool_timeout_s: float = Field(
        10.0, gt=0, validation_alias=AliasChoices("SB_REDIS_POOL_TIMEOUT_S", "redis_pool_timeout_s"))
    # JetStream: replicas of every stream and KV bucket (3 in production, on a 3-node cluster), and per-stream
    # limits over the defaults of libs/messaging/streams.py, as JSON: SB_NATS_MAX_BYTES='{"INBOUND": 21474836480}'.
    nats_replicas: int = Field(1, ge=1, le=5, validation_alias=AliasChoices("SB_NATS_REPLICAS", "nats_replicas"))
    nats_max_bytes: dict[str, int] = Field(
        default_factory=dict, validation_alias=AliasChoices("SB_NATS_MAX_BYTES", "nats_max_bytes"))
    nats_max_age_s: dict[str, float] = Field(
        default_factory=dict, validation_alias=AliasChoices("SB_NATS_MAX_AGE_S", "nats_max_age_s"))
    # The shared blob store (libs/storage/blobs.py): empty = a folder under the service's blob_dir (development);
    # s3://bucket[/prefix], gs://bucket or az://container in production, credentials from the cloud's standard chain.
    blob_url: str = Field("", validation_alias=AliasChoices("SB_BLOB_URL", "blob_url"))
    blob_endpoint: str = Field("", validation_alias=AliasChoices("SB_BLOB_ENDPOINT", "blob_endpoint"))
    blob_region: str = Field("", validation_alias=AliasChoices("SB_BLOB_REGION", "blob_region"))
    shutdown_budget_s: float = Field(
        20.0, validation_alias=AliasChoices("SB_SHUTDOWN_BUDGET_S", "shutdown_budget_s")
    )
    # One JSON line per HTTP request (method, route, status, duration, request id); off by default.
    access_log: bool = Field(False, validation_alias=AliasChoices("SB_ACCESS_LOG", "access_log"))
    # Every N seconds each consumer reads its JetStream num_pending into sb_consumer_pending.
    consumer_pending_every_s: float = Field(
        15.0, validation_alias=AliasChoices("SB_CONSUMER_PENDING_EVERY_S", "consumer_pending_every_s")
    )

    # Internal calls (libs/core/auth.py). The trusted public keys are shared by every service; the private
    # key and its id are each signer's own (``SB_<SERVICE>_AUTH_PRIVATE_KEY``, ``SB_<SERVICE>_AUTH_KID``).
    auth_public_keys: str = Field("", validation_alias=AliasChoices("SB_AUTH_PUBLIC_KEYS", "auth_public_keys"))
    auth_private_key: SecretStr = SecretStr("")
    auth_kid: str = ""
    # Development keys only (never read in production): .data/auth of the working directory.
    auth_dev_dir: Path = Field(default_factory=lambda: Path.cwd() / ".data" / "auth",
                               validation_alias=AliasChoices("SB_AUTH_DEV_DIR", "auth_dev_dir"))
    auth_ttl_s: float = Field(60.0, validation_alias=AliasChoices("SB_AUTH_TTL_S", "auth_ttl_s"))
    auth_max_ttl_s: float = Field(300.0, validation_alias=AliasChoices("SB_AUTH_MAX_TTL_S", "auth_max_ttl_s"))
