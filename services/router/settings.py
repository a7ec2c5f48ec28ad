"""Router settings (env prefix ``SB_ROUTER_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from libs.core.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SB_ROUTER_", extra="ignore")

    service_name: str = "router"
    port: int = 8082
    # Every Redis key of the live state starts with this prefix.
    key_prefix: str = "sb:r:"
    # Outbox entries older than this are re-published by the sweeper (a crash between Redis and NATS).
    outbox_grace_s: float = 2.0
    outbox_sweep_s: float = 1.0
    dedup_ttl_s: int = 7 * 24 * 3600
    inbound_durable: str = "router-inbound"
    # Concurrent pull loops on the inbound durable in one process.
    inbound_concurrency: int = 2
    # Messages fetched per pull; small, so a message never waits behind a long batch in one loop.
    inbound_batch: int = 8
    # An inbound message not acknowledged in this time (its replica died) is delivered again.
    inbound_ack_wait_s: float = 30.0
    # Out-of-hours backlog release: one batch per interval, ``release_rate_per_agent`` per available agent.
    release_interval_s: float = 60.0
    # The CRM's internal API: the rebuild reads from it the open conversations older than the stream's retention.
    # Empty: the rebuild reads the streams alone (a router tested without a CRM).
    crm_url: str = "http://127.0.0.1:8085"
    crm_timeout_s: float = 10.0
