"""The channels service's click-to-call (``POST /channels/{id}/calls`` on its admin port), called as the CRM's own
service identity."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from libs.core.errors import AppError, Conflict, Forbidden, Invalid, NotFound, Transient

_ERRORS: dict[int, type[AppError]] = {400: Invalid, 403: Forbidden, 404: NotFound, 409: Conflict}


class ChannelsVoice:
    """Places calls through channels (``SB_CRM_CHANNELS_URL``); its refusals come back as the same errors, with
    their field."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def place(self, channel_id: str, call_id: str, to: str, agent_id: str) -> dict[str, Any]:
        """Raises: the channel's refusal (Invalid, NotFound, ...) with its field; Transient when channels or
        the provider is unavailable."""
        url = f"{self.base_url}/channels/{quote(channel_id, safe='')}/calls"
        try:
            async with self.session.post(url, json={"call_id": call_id, "to": to, "agent_id": agent_id}) as resp:
                body = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise Transient(f"the voice channel could not be reached: {type(exc).__name__}") from exc
        if status == 201 and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = f"the voice channel refused the call: {error.get('message') or f'HTTP {status}'}"
        raise _ERRORS.get(status, Transient)(message, field=error.get("field"))
