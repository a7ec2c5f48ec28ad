"""The campaign snapshots of the ``campaigns`` KV bucket, kept in memory from a watch."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from libs.contracts import CampaignSnapshot
from libs.core.logging import get_logger

log = get_logger(__name__)


class CampaignCache:
    """Campaign id -> snapshot. Fed by ``libs.messaging.watch_kv``; ``ready`` once the first pass is done."""

    def __init__(self) -> None:
        self._by_id: dict[str, CampaignSnapshot] = {}
        self.ready = asyncio.Event()

    def on_change(self, key: str, value: Any | None) -> None:
        if value is None:
            self._by_id.pop(key, None)
            return
        try:
            self._by_id[key] = CampaignSnapshot.model_validate(value)
        except ValidationError as exc:
            log.error("campaign_snapshot_invalid", campaign_id=key, error=str(exc)[:500])

    def get(self, campaign_id: str | None) -> CampaignSnapshot | None:
        return self._by_id.get(campaign_id) if campaign_id else None

    def put(self, snapshot: CampaignSnapshot) -> None:
        """Set a snapshot directly (the demo seed and unit tests)."""
        self._by_id[snapshot.id] = snapshot
