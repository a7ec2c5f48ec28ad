"""The CRM's internal API as the router's rebuild reads it: its durable record of open conversations."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp


class CrmRecord:
    """The CRM's durable record of conversations, read by the rebuild (``SB_ROUTER_CRM_URL``)."""

    PAGE = 500

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        async with self.http.get(f"{self.base_url}{path}", params=params) as r:
            if r.status != 200:
                raise RuntimeError(f"CRM GET {path}: HTTP {r.status} {(await r.text())[:300]}")
            return await r.json()

    async def open_conversations(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        params = {"status": "open", "limit": str(self.PAGE)}
        while True:
            page = await self._get("/conversations", params)
            rows += page.get("items") or []
            if not page.get("next_cursor"):
                return rows
            params["cursor"] = page["next_cursor"]

    async def conversation(self, conversation_id: str) -> dict[str, Any]:
        return dict(await self._get(f"/conversations/{quote(conversation_id, safe='')}"))
