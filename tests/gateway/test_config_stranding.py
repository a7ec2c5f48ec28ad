"""Issue 13 item 12, the campaigns side, through the gateway against the real campaigns service (folding the
router's conversation events): removing what open conversations depend on (an agent's membership, a typification
they may close with) is refused with a 409 naming them, and allowed once they are closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from libs.contracts import ConversationAssigned, ConversationClosed, ConversationOpened
from libs.core.service import LIFECYCLE
from libs.devstack import StackInfo
from libs.messaging import publish
from services.gateway.app import create_app

from .conftest import ServicePeer, bearer, gateway_settings


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def campaigns_gw(stack: StackInfo, router_peer: ServicePeer, services_peer: ServicePeer
                       ) -> AsyncIterator[TestClient]:
    """A gateway whose campaigns service is the real one, with its conversation consumer on."""
    from services.campaigns.app import create_app as create_campaigns
    from services.campaigns.settings import CampaignsSettings

    app = create_campaigns(CampaignsSettings(env="test", nats_url=stack.nats_url, redis_url=stack.redis_url,
                                             database_url=stack.database_url,
                                             conversation_durable="campaigns-conversations-stranding"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    app[LIFECYCLE].ready = True
    settings = gateway_settings(stack, router_peer.url, services_peer.url).model_copy(
        update={"campaigns_url": str(server.make_url("")).rstrip("/")})
    client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()
    await app[LIFECYCLE].drain(5)
    await server.close()


async def api(client: TestClient, token: str, method: str, path: str, body: Any = None,
              status: int | None = None) -> Any:
    resp = await client.request(method, f"/api/v1{path}", json=body, headers=bearer(token))
    data = await resp.json() if resp.content_type == "application/json" else None
    assert resp.status == status if status else resp.status < 300, (method, path, resp.status, data)
    return data


async def test_open_conversations_keep_their_agent_and_typifications(campaigns_gw, make_user, gateway, nats_js,
                                                                      unique, stack: StackInfo):
    client = campaigns_gw
    _, js = nats_js
    a1, a2, admin_id = await make_user("agent"), await make_user("agent"), await make_user("admin")
    token = gateway.tokens.issue((await gateway.users.get(admin_id)).principal, "access")
    await api(client, token, "POST", "/clients", {"id": f"cl-{unique}", "name": f"Cliente {unique}"})
    await api(client, token, "POST", "/projects", {"id": f"pr-{unique}", "client_id": f"cl-{unique}",
                                                   "name": f"Proyecto {unique}"})
    for typ in ("venta", "nada"):
        await api(client, token, "POST", "/typifications", {"id": f"{typ}-{unique}", "category": f"{typ} {unique}"})
    camp = f"cmp-{unique}"
    await api(client, token, "POST", "/campaigns", {
        "id": camp, "client_id": f"cl-{unique}", "project_id": f"pr-{unique}", "name": f"Ventas {unique}",
        "agents": [a1, a2], "closing_typifications": [f"venta-{unique}", f"nada-{unique}"]})
    base = {"conversation_id": f"conv-st-{unique}", "campaign_id": camp, "channel_id": f"wa-{unique}",
            "channel_type": "whatsapp", "contact_address": "+34600000002"}
    await publish(js, ConversationOpened(**base, seq=1))
    await publish(js, ConversationAssigned(**base, seq=2, agent_id=a1))

    async def folded(closed: bool) -> None:
        """Wait until the campaigns consumer has folded the conversation (a PATCH before that would be allowed,
        and would change the campaign, so the test waits on the service's own table instead of retrying)."""
        conn = await asyncpg.connect(stack.database_url)
        try:
            for _ in range(600):
                row = await conn.fetchrow("SELECT closed FROM campaigns.open_conversations WHERE conversation_id = $1",
                                          base["conversation_id"])
                if row is not None and row["closed"] is closed:
                    return
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        raise AssertionError(f"the campaigns service never folded the conversation (closed={closed})")

    async def refused_until_folded(body: dict[str, Any], field: str) -> dict[str, Any]:
        await folded(closed=False)
        return cast(dict[str, Any], await api(client, token, "PATCH", f"/campaigns/{camp}", body, status=409))

    # a1 holds it: a1 stays; the typification it may close with stays; the catalog keeps it too.
    err = await refused_until_folded({"agents": [a2]}, "agents")
    assert err["error"]["details"] == {"conversations": {a1: [base["conversation_id"]]}}
    err = await api(client, token, "PATCH", f"/campaigns/{camp}", {"closing_typifications": [f"venta-{unique}"]},
                    status=409)
    assert err["error"]["field"] == "closing_typifications"
    assert err["error"]["details"] == {"typifications": [f"nada-{unique}"], "open_conversations": 1}
    await api(client, token, "DELETE", f"/typifications/nada-{unique}", status=409)
    assert (await api(client, token, "GET", f"/campaigns/{camp}"))["agents"] == [a1, a2]  # nothing changed
    # Another agent, who holds nothing, may leave; adding is never refused.
    assert (await api(client, token, "PATCH", f"/campaigns/{camp}", {"agents": [a1]}))["agents"] == [a1]

    # Closed, it depends on nothing any more.
    await publish(js, ConversationClosed(**base, seq=3, agent_id=a1, typification_id=f"venta-{unique}"))
    await folded(closed=True)
    assert (await api(client, token, "PATCH", f"/campaigns/{camp}", {"agents": []}))["agents"] == []
    done = await api(client, token, "PATCH", f"/campaigns/{camp}", {"closing_typifications": [f"venta-{unique}"]})
    assert done["closing_typifications"] == [f"venta-{unique}"]
