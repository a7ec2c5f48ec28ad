"""Gateway settings (env prefix ``SB_GATEWAY_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from libs.core.settings import ServiceSettings

DEV_JWT_SECRET = "switchboard-dev-jwt-secret-change-me"  # refused in production below


class GatewaySettings(ServiceSettings):
    """Everything the gateway reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="SB_GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    port: int = 8080
    # The gateway's port is public (console and /api/v1): /metrics is served on this internal port only.
    metrics_port: int = 8087

    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "switchboard"
    access_ttl_s: int = 15 * 60
    refresh_ttl_s: int = 7 * 24 * 3600

    login_max_failures: int = 5
    login_window_s: int = 300
    # argon2 verifications running at once (64 MiB each with argon2-cffi's default memory cost: 2 of them fit
    # the pod's 512 MiB limit beside the service) and logins allowed to wait for one; more answer 429 at once.
    login_concurrency: int = Field(2, ge=1)
    login_queue: int = Field(16, ge=0)
    # Login attempts per client IP per minute, before any hashing (a whole office behind one NAT address logs
    # in at the start of a shift: keep it above its head count).
    login_ip_per_minute: int = Field(120, ge=1)
    # Proxies in front of the gateway that append to X-Forwarded-For (1 behind the ingress); 0: the peer's
    # address is the client's and X-Forwarded-For is ignored (a client could write anything there).
    trusted_proxy_hops: int = Field(0, ge=0)
    session_cache_s: int = Field(10, ge=1)  # how long Redis keeps a user's token version read from PostgreSQL

    router_url: str = "http://127.0.0.1:8082"
    campaigns_url: str = "http://127.0.0.1:8084"
    crm_url: str = "http://127.0.0.1:8085"
    channels_url: str = "http://127.0.0.1:8086"  # the channels admin port (8081 serves only webhooks)
    upstream_timeout_s: float = 10.0

    ws_queue_size: int = 1000
    ws_heartbeat_s: float = 25.0
    ws_auth_timeout_s: float = 5.0
    # The reasons an agent may give for a break (JSON list in SB_GATEWAY_BREAK_REASONS); empty: any text.
    break_reasons: list[str] = Field(
        default_factory=lambda: ["Almuerzo", "Café", "Formación", "Reunión", "Baño", "Otro"]
    )

    demo_seed: bool = Field(False, validation_alias=AliasChoices("SB_DEMO_SEED", "SB_GATEWAY_DEMO_SEED", "demo_seed"))

    @model_validator(mode="after")
    def _real_secret_in_production(self) -> GatewaySettings:
        if self.env == "production" and (self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32):
            raise ValueError("SB_GATEWAY_JWT_SECRET must be set to a secret of at least 32 characters in production")
        return self
