"""The CRM's owner index, read from the ``owners`` KV bucket when a conversation opens (seed 002)."""

from __future__ import annotations

from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError

from libs.contracts.owners import OWNERS_BUCKET, OwnerEntry, channel_key
from libs.core.errors import Transient
from libs.core.logging import get_logger

log = get_logger(__name__)


class KvOwnerIndex:
    """One KV read per new conversation (and per message of a contact the router has no open-conversation hint
    for, see ``Router._ingest``)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: Any = None

    async def owner(self, campaign_id: str, channel_type: str, address: str) -> str | None:
        key = channel_key(channel_type, address)
        if key is None:
            return None
        try:
            if self._kv is None:
                self._kv = await self.js.key_value(OWNERS_BUCKET)
            entry = await self._kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        except Exception as exc:
            raise Transient(f"the owner index is unavailable: {type(exc).__name__}") from exc
        if not entry.value:
            return None
        try:
            return OwnerEntry.model_validate_json(entry.value).owner_for(campaign_id)
        except ValueError as exc:  # a bad entry must not stop routing: the conversation goes to anyone
            log.error("owner_entry_invalid", key=key, error=str(exc)[:300])
            return None
