"""What the CRM sends out over NATS: JetStream commands (outbound e-mail, closes, timers) and job progress."""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from libs.contracts import Contract
from libs.core.logging import get_logger
from libs.messaging import publish

log = get_logger(__name__)

PROGRESS_SUBJECT = "sb.crm.process.{job_id}"


class Publisher:
    """Publishes contracts to JetStream (acknowledged) and progress notices on core NATS (best effort)."""

    def __init__(self, nc: NATS, js: JetStreamContext) -> None:
        self._nc = nc
        self._js = js

    async def publish(self, msg: Contract) -> None:
        await publish(self._js, msg)

    async def progress(self, job_id: str, body: dict[str, Any]) -> None:
        try:
            await self._nc.publish(PROGRESS_SUBJECT.format(job_id=job_id), json.dumps(body, default=str).encode())
        except Exception as exc:  # progress is a courtesy; the API is the source of truth
            log.info("progress_publish_failed", job_id=job_id, error=repr(exc))
