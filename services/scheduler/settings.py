"""Scheduler settings (env prefix ``SB_SCHEDULER_``)."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from libs.core.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SB_SCHEDULER_", extra="ignore")

    service_name: str = "scheduler"
    port: int = 8083
    replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    # The longest the firing loop sleeps without a notification (a safety net for missed NOTIFYs).
    max_sleep_s: float = 2.0
    # While another replica holds due timers, look again this often.
    contended_retry_s: float = 0.05
    batch: int = 200
