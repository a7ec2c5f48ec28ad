"""The user directory other services read: KV bucket ``users``, key = user id, value = the user's public
entry (name, e-mail, role, active; never a password hash)."""

from __future__ import annotations

import json

from nats.js import JetStreamContext

from services.gateway.domain import User

BUCKET = "users"


class UsersKv:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def put(self, user: User) -> None:
        kv = await self._js.key_value(BUCKET)
        await kv.put(user.id, json.dumps(user.directory_entry()).encode())
