"""Settings of the channels service (env prefix ``SB_CHANNELS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from libs.core.secretbox import DEV_KEY, SecretBox, SecretBoxError
from libs.core.settings import ServiceSettings


class ChannelsSettings(ServiceSettings):
    """Ports, provider base URLs, retry bounds and limits. Per-channel ``base_url`` overrides a base URL."""

    model_config = SettingsConfigDict(env_prefix="SB_CHANNELS_", extra="ignore")

    service_name: str = "channels"
    port: int = 8081  # public: /webhooks/*, /media/<sha> (signed links), /healthz, /readyz only
    admin_port: int = 8086  # internal: /channels, /dead-letters, /blobs (internal token required)
    demo_seed: bool = Field(False, validation_alias=AliasChoices("SB_DEMO_SEED", "demo_seed"))

    # Provider APIs (tests and staging point these at local peers).
    graph_base_url: str = "https://graph.facebook.com"
    graph_version: str = "v21.0"
    twilio_base_url: str = "https://api.twilio.com"
    ari_base_url: str = "http://127.0.0.1:8088"
    # The public URL providers call (for X-Twilio-Signature, which signs the full URL, and status callbacks).
    # Empty: the URL of the incoming request as this process sees it (development only: behind a proxy that is
    # not the URL Twilio signed, so production refuses to start without it).
    public_base_url: str = ""
    # How long a signed link to our own media (``/media/<sha>?exp=&type=&sig=`` on the public port, for Twilio's
    # MediaUrl and Instagram's attachment url) stays valid: the provider fetches it when it sends.
    media_link_ttl_s: int = Field(3600, ge=60, le=7 * 24 * 3600)
    # The router: asked which conversations are open on a channel before it may be deleted.
    router_url: str = "http://127.0.0.1:8082"

    # SMTP listener (inbound e-mail). Attachments go to the shared blob store (SB_BLOB_URL); without it, to this
    # folder (development).
    smtp_enabled: bool = True
    smtp_host: str = "0.0.0.0"
    smtp_port: int = 2525
    smtp_hostname: str = "switchboard.local"
    max_email_bytes: int = 10 * 1024 * 1024
    # SMTP sessions are hostile input too: recipients per message, sessions at once, idle and whole-session time,
    # and how often each command may be sent in one session.
    smtp_max_recipients: int = 50
    smtp_max_sessions: int = 100
    smtp_idle_timeout_s: float = 60.0
    smtp_session_timeout_s: float = 600.0
    smtp_max_commands: int = 100
    blob_dir: Path = Path(".data/blobs")

    # Keys that encrypt the channels' credentials at rest: "<id>:<base64 of 32 bytes>" separated by commas, the
    # first one current (new values), every one readable. Empty outside production: a development key.
    secret_keys: SecretStr = SecretStr("")

    # Webhooks and outbound delivery. A webhook client must send a request's head within the header timeout (also
    # the idle keep-alive) and its body within the body timeout; heads and bodies are bounded in size.
    max_webhook_bytes: int = 1024 * 1024
    webhook_header_timeout_s: float = 10.0
    webhook_body_timeout_s: float = 15.0
    publish_timeout_s: float = 5.0
    provider_timeout_s: float = 10.0
    provider_attempts: int = 4
    provider_max_wait_s: float = 10.0
    outbound_consumer: bool = True
    outbound_max_deliver: int = 8

    @model_validator(mode="after")
    def _public_url_in_production(self) -> ChannelsSettings:
        if self.env == "production" and not self.public_base_url.startswith(("https://", "http://")):
            raise ValueError("SB_CHANNELS_PUBLIC_BASE_URL must be set to the public URL providers call "
                             "(e.g. https://hooks.example.com) in production")
        return self

    @model_validator(mode="after")
    def _keys_in_production(self) -> ChannelsSettings:
        box = self.secret_box()  # a malformed key list is refused here, at start
        if self.env == "production" and (not self.secret_keys.get_secret_value().strip()
                                         or any(key == DEV_KEY for _, key in box.keys)):
            raise ValueError("SB_CHANNELS_SECRET_KEYS must be set in production (the channels' credentials are "
                             "encrypted with it): '<id>:<base64 of 32 random bytes>', e.g. from "
                             "python -m libs.core.secretbox <id>")
        return self

    def secret_box(self) -> SecretBox:
        """The keys of the credentials at rest (a development key when none is set)."""
        spec = self.secret_keys.get_secret_value()
        if not spec.strip():
            return SecretBox.development()
        try:
            return SecretBox.parse(spec)
        except SecretBoxError as exc:
            raise ValueError(f"SB_CHANNELS_SECRET_KEYS: {exc}") from None
