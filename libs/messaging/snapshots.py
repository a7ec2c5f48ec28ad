"""The one in-memory directory of campaign snapshots, kept from the ``campaigns`` KV bucket.

Pure (no NATS here; ``libs.messaging.app.watch_snapshots`` feeds it), so a service's domain may take it.
The router, the gateway and the CRM each hold one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from libs.contracts import CampaignSnapshot
from libs.core.logging import get_logger

log = get_logger(__name__)

BUCKET = "campaigns"


class SnapshotDirectory:
    """Campaign snapshots by id, indexed by channel (active campaigns only: a channel routes to at most one),
    by agent and by supervisor. ``ready`` is set once the bucket's first pass is in memory."""

    def __init__(self) -> None:
        self._by_id: dict[str, CampaignSnapshot] = {}
        self._by_channel: dict[str, str] = {}
        self._by_agent: dict[str, set[str]] = {}
        self._by_supervisor: dict[str, set[str]] = {}
        self.ready = asyncio.Event()

    # ---- changes ------------------------------------------------------------------------------------
    def apply(self, key: str, value: Mapping[str, Any] | None) -> CampaignSnapshot | None:
        """Apply a KV change (``None`` deletes); returns the new snapshot.

        Raises:
            ValidationError: the value is not a ``CampaignSnapshot`` (the directory is left unchanged).
        """
        new = CampaignSnapshot.model_validate(value) if value is not None else None
        self._forget(key)
        if new is not None:
            self._index(key, new)
        return new

    def on_change(self, key: str, value: Mapping[str, Any] | None) -> CampaignSnapshot | None:
        """``apply`` for a watch: an invalid value is logged and leaves the previous snapshot in place."""
        try:
            return self.apply(key, value)
        except ValidationError as exc:
            log.error("campaign_snapshot_invalid", campaign_id=key, error=str(exc)[:500])
            return self._by_id.get(key)

    def put(self, snapshot: CampaignSnapshot) -> None:
        """Set a snapshot directly (demo seeds, tests)."""
        self._forget(snapshot.id)
        self._index(snapshot.id, snapshot)

    def _forget(self, key: str) -> None:
        old = self._by_id.pop(key, None)
        if old is None:
            return
        for ch in old.channels:
            if self._by_channel.get(ch.id) == key:
                del self._by_channel[ch.id]
        for agent in old.agents:
            self._by_agent.get(agent, set()).discard(key)
        for sup in old.supervisors:
            self._by_supervisor.get(sup, set()).discard(key)

    def _index(self, key: str, snap: CampaignSnapshot) -> None:
        self._by_id[key] = snap
        if snap.status == "active":
            for ch in snap.channels:
                self._by_channel[ch.id] = key
        for agent in snap.agents:
            self._by_agent.setdefault(agent, set()).add(key)
        for sup in snap.supervisors:
            self._by_supervisor.setdefault(sup, set()).add(key)

    # ---- reads --------------------------------------------------------------------------------------
    def get(self, campaign_id: str | None) -> CampaignSnapshot | None:
        return self._by_id.get(campaign_id) if campaign_id else None

    def __iter__(self) -> Iterator[CampaignSnapshot]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def for_channel(self, channel_id: str) -> CampaignSnapshot | None:
        """The active campaign a channel routes to."""
        cid = self._by_channel.get(channel_id)
        return self._by_id.get(cid) if cid else None

    def campaigns_of(self, agent_id: str) -> list[str]:
        """The campaigns an agent works in, sorted."""
        return sorted(self._by_agent.get(agent_id, ()))

    def supervised_by(self, user_id: str) -> set[str]:
        return set(self._by_supervisor.get(user_id, ()))

    def agents_of(self, campaign_ids: Iterable[str]) -> set[str]:
        """Every agent of these campaigns."""
        out: set[str] = set()
        for cid in campaign_ids:
            snap = self._by_id.get(cid)
            if snap is not None:
                out.update(snap.agents)
        return out
