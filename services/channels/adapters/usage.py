"""What a channel is still needed for: the active campaigns using it (the campaigns KV bucket, watched into a
``SnapshotDirectory``) and the conversations open on it (the router's ``GET /channels/{id}/conversations``, asked
as the channels service's own identity: a service token of ``libs/core/auth.py``)."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from libs.core.auth import Signer
from libs.core.errors import Transient
from libs.messaging.snapshots import SnapshotDirectory


class RouterChannelUsage:
    def __init__(self, directory: SnapshotDirectory, session: aiohttp.ClientSession, router_url: str,
                 signer: Signer) -> None:
        self.directory = directory
        self.session = session
        self.router_url = router_url.rstrip("/")
        self.signer = signer

    def campaigns_using(self, channel_id: str) -> list[tuple[str, str]]:
        return sorted((s.id, s.name) for s in self.directory
                      if s.status == "active" and any(c.id == channel_id for c in s.channels))

    async def open_conversations(self, channel_id: str) -> tuple[int, list[str]]:
        url = f"{self.router_url}/channels/{quote(channel_id, safe='')}/conversations"
        try:
            # The session is the providers' too: the token goes on this request only.
            headers = {"Authorization": f"Bearer {self.signer.for_service('router')}"}
            async with self.session.get(url, headers=headers) as resp:
                if resp.status != 200:
                    raise Transient(f"the router answered {resp.status} about channel {channel_id}'s conversations")
                body = await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Transient(f"the router is unavailable: {type(exc).__name__}") from exc
        return int(body.get("open") or 0), [str(i["id"]) for i in body.get("items") or []]
