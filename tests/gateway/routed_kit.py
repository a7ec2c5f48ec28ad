"""Campaign options through the gateway against the real router (and the real CRM): campaigns a test
publishes and changes (option on, option off), users with tokens, customers writing in, and the agent's
WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from libs.contracts import CampaignSnapshot, InboundMessage
from libs.contracts.campaigns import mask_phone
from libs.messaging import publish
from services.gateway.keys import GATEWAY
from services.router.keys import ROUTER

from .conftest import PASSWORD, ServicePeer, bearer


async def eventually(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Wait until ``check()`` (sync or async) is truthy; fail naming ``what`` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Socket:
    """An authenticated WebSocket of the gateway, collecting every event it receives."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                self.events.append(json.loads(msg.data))

    def of(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == type_ and all(e.get(k) == v for k, v in match.items())]

    async def wait_for(self, type_: str, **match: Any) -> dict[str, Any]:
        found = await eventually(lambda: self.of(type_, **match), f"{type_} {match} on the socket")
        return found[-1]

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()


class Routed:
    """The gateway (``gw``) over the real router (``router``); campaigns go to the ``campaigns`` KV bucket, which
    both watch."""

    def __init__(self, gw: TestClient, router: TestClient, nc: Any, js: Any, peer: ServicePeer) -> None:
        self.gw, self.router, self.nc, self.js, self.peer = gw, router, nc, js, peer
        self._n = 0
        self.usernames: dict[str, str] = {}  # user id -> username (password: conftest.PASSWORD)

    # ---- people ----------------------------------------------------------------------------------------
    async def user(self, role: str, unique: str) -> tuple[str, str]:
        """A new user of ``role``: (user id, access token)."""
        self._n += 1
        gateway = self.gw.app[GATEWAY]
        user_id = f"r-{role}-{unique}-{self._n}"
        from services.gateway.security import hash_password

        self.usernames[user_id] = f"r{role}{unique}{self._n}"
        await gateway.users.create(id=user_id, username=self.usernames[user_id], display_name=f"{role} {self._n}",
                                   role=role, password_hash=await asyncio.to_thread(hash_password, PASSWORD))
        user = await gateway.users.get(user_id)
        return user_id, gateway.tokens.issue(user.principal, "access")

    # ---- campaigns -------------------------------------------------------------------------------------
    async def put(self, snap: CampaignSnapshot) -> CampaignSnapshot:
        """Publish a snapshot and wait until the gateway and the router hold it (and the router mirrored it)."""
        kv = await self.js.key_value("campaigns")
        await kv.put(snap.id, snap.model_dump_json().encode())
        self.peer.answers[("GET", f"/campaigns/{snap.id}/snapshot")] = (200, snap.model_dump(mode="json"))
        gw_dir, router = self.gw.app[GATEWAY].directory, self.router.app[ROUTER]

        def seen() -> bool:
            a, b = gw_dir.get(snap.id), router._synced_snaps.get(snap.id)  # mirrored into Redis, too
            return bool(a and b and a.version == snap.version and b.version == snap.version)

        await eventually(seen, f"version {snap.version} of {snap.id} in the gateway and the router")
        return snap

    async def campaign(self, unique: str, *, agents: list[str], supervisors: list[str] = (),  # type: ignore[assignment]
                       channel_type: str = "whatsapp", suffix: str = "", **overrides: Any) -> CampaignSnapshot:
        """A 24/7 campaign with one channel ``ch-<unique><suffix>``, typification ``sold`` (no required field)."""
        routing = overrides.pop("routing", {})
        permissions = overrides.pop("permissions", {})
        data: dict[str, Any] = {
            "id": f"camp-{unique}{suffix}", "name": f"Campaña {unique}{suffix}",
            "channels": [{"id": f"ch-{unique}{suffix}", "type": channel_type}],
            "typifications": [{"id": "sold", "category": "Venta"}, {"id": "moved", "category": "Transferida"}],
            "transfer_typification": "moved",
            "agents": agents, "supervisors": list(supervisors),
            "routing": {"agent_capacity": 2, **routing}, "permissions": permissions,
        }
        data.update(overrides)
        return await self.put(CampaignSnapshot.model_validate(data))

    async def change(self, snap: CampaignSnapshot, **changes: Any) -> CampaignSnapshot:
        """The snapshot with ``changes`` merged (nested dicts one level: ``permissions={"emojis": False}``)."""
        data = snap.model_dump(mode="json")
        for key, value in changes.items():
            data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
        data["version"] = snap.version + 1
        return await self.put(CampaignSnapshot.model_validate(data))

    # ---- customers and agents ------------------------------------------------------------------------
    async def write_in(self, snap: CampaignSnapshot, contact: str, text: str = "hola", n: int | str = 0,
                       **kw: Any) -> InboundMessage:
        ch = snap.channels[0]
        msg = InboundMessage(channel_id=ch.id, channel_type=ch.type, contact_address=contact,
                             provider_message_id=f"pm.{ch.id}.{abs(hash(contact))}.{n}", text=text, **kw)
        await publish(self.js, msg)
        return msg

    async def call(self, token: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        resp = await self.gw.request(method, f"/api/v1{path}", json=body, headers=bearer(token))
        answer = await resp.json() if resp.content_type == "application/json" else await resp.text()
        assert resp.status == status, (method, path, resp.status, answer)
        return answer

    async def available(self, token: str) -> None:
        await self.call(token, "PUT", "/me/status", {"status": "available"})

    async def assigned_to(self, token: str, contact: str | None = None) -> dict[str, Any]:
        """The conversation assigned to the caller (of ``contact``, if given), once the router has assigned it."""

        async def find() -> dict[str, Any] | None:
            items = (await self.call(token, "GET", "/conversations"))["items"]
            shown = {contact, mask_phone(contact)} if contact else set()
            found = [c for c in items if c["state"] == "assigned" and (not shown or c["contact_address"] in shown)]
            return found[0] if found else None

        return await eventually(find, f"a conversation assigned ({contact or 'any'})")

    async def socket(self, token: str) -> Socket:
        ws = await self.gw.ws_connect("/api/v1/events")
        await ws.send_json({"type": "auth", "token": token})
        sock = Socket(ws)
        await sock.wait_for("ready")
        return sock
