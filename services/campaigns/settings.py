"""Settings of the campaigns service (env prefix ``SB_CAMPAIGNS_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from libs.core.settings import ServiceSettings


class CampaignsSettings(ServiceSettings):
    """Port, demo seeding, and how often the outbox republishes snapshots a failed publish left behind."""

    model_config = SettingsConfigDict(env_prefix="SB_CAMPAIGNS_", extra="ignore")

    service_name: str = "campaigns"
    port: int = 8084
    demo_seed: bool = Field(False, validation_alias=AliasChoices("SB_DEMO_SEED", "demo_seed"))
    outbox_interval_s: float = Field(2.0, gt=0)
    # Fold the router's conversation events to know which campaigns have active conversations.
    conversation_consumer: bool = True
    conversation_durable: str = "campaigns-conversations"
