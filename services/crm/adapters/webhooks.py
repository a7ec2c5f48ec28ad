"""Posting a webhook over HTTP (aiohttp): the status, or why there is none; the answer's body is not kept."""

from __future__ import annotations

import aiohttp


class HttpPoster:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
                   ) -> tuple[int | None, str | None]:
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                await resp.content.read(64 * 1024)  # a bounded look, so the connection can be reused
                return resp.status, None if resp.status < 300 else f"HTTP {resp.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
