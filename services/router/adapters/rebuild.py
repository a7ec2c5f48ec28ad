"""Rebuild of the live state when Redis has lost it (no epoch key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nats.js import JetStreamContext

from libs.core.logging import get_logger
from services.router.adapters.nats import Publisher
from services.router.adapters.redis import RouterStore

if TYPE_CHECKING:
    from services.router.handlers import Router

log = get_logger(__name__)


class Rebuilder:
    def __init__(self, js: JetStreamContext, store: RouterStore, publisher: Publisher) -> None:
        self.js = js
        self.store = store
        self.publisher = publisher
        self.router: Router | None = None

    async def ensure_state(self) -> None:
        if not await self.store.has_epoch():
            await self.rebuild()

    async def rebuild(self) -> dict[str, Any]:
        await self.store.set_epoch()
        return {}
