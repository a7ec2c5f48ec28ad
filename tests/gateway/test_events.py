"""The live WebSocket: authentication, per-user delivery, and resume from a stream sequence."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError

from libs.contracts import AgentStatusChanged, ConversationAssigned, ConversationMessage, DeliveryStatus
from libs.messaging import publish
from services.gateway.keys import GW_SETTINGS


async def recv(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def connect(client: Any, token: str, **query: Any) -> Any:
    """Open the WebSocket, authenticate with the first message and wait for ``ready`` (after any replay);
    returns (ws, replayed events, ready)."""
    params = "&".join(f"{k}={v}" for k, v in query.items())
    ws = await client.ws_connect(f"/api/v1/events?{params}")
    await ws.send_json({"type": "auth", "token": token})
    replayed = []
    while True:
        event = await recv(ws)
        if event["type"] == "ready":
            return ws, replayed, event
        replayed.append(event)


def assigned(conv: str, agent: str, campaign: str | None = None) -> ConversationAssigned:
    return ConversationAssigned(conversation_id=conv, campaign_id=campaign, channel_id="ch-test",
                                channel_type="whatsapp", contact_address="+34600000000", agent_id=agent, seq=1)


def message(conv: str, agent: str | None, text: str, seq: int = 2) -> ConversationMessage:
    return ConversationMessage(conversation_id=conv, channel_id="ch-test", channel_type="whatsapp",
                               contact_address="+34600000000", agent_id=agent, seq=seq,
                               message_id=f"m-{conv}-{seq}", text=text)


async def closed_with(ws: Any, timeout: float = 10.0) -> int:
    msg = await ws.receive(timeout=timeout)
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), msg
    return ws.close_code


async def test_websocket_authenticates_with_its_first_message(gw_client, gateway, make_user, unique):
    user = await gateway.users.get(await make_user("agent"))
    access = gateway.tokens.issue(user.principal, "access")
    refresh = gateway.tokens.issue(user.principal, "refresh")
    # Bad first messages: garbage, a refresh token, another type, no token, not JSON: closed with 4401.
    for first in ({"type": "auth", "token": "garbage"}, {"type": "auth", "token": refresh},
                  {"type": "ping"}, {"type": "auth"}, "hola"):
        ws = await gw_client.ws_connect("/api/v1/events")
        await (ws.send_json(first) if isinstance(first, dict) else ws.send_str(first))
        assert await closed_with(ws) == 4401, first
    # A good one: ready, with the user it names.
    ws, _, ready = await connect(gw_client, access)
    assert ready["user"] == {"id": user.id, "role": "agent"}
    await ws.close()
    # The token in the URL is refused before the upgrade (URLs land in logs); so is a bad cursor.
    for url in (f"/api/v1/events?token={access}", "/api/v1/events?since=abc"):
        with pytest.raises(WSServerHandshakeError) as info:
            await gw_client.ws_connect(url)
        assert info.value.status == 400
    # A bad Authorization header is refused before the upgrade too.
    with pytest.raises(WSServerHandshakeError) as info:
        await gw_client.ws_connect("/api/v1/events", headers={"Authorization": f"Bearer {refresh}"})
    assert info.value.status == 401
    # Plain HTTP (no upgrade) gets the one error shape.
    resp = await gw_client.get("/api/v1/events", headers={"Authorization": f"Bearer {access}"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "Upgrade"


async def test_websocket_that_does_not_authenticate_in_time_is_closed(gw_client, monkeypatch):
    monkeypatch.setattr(gw_client.app[GW_SETTINGS], "ws_auth_timeout_s", 0.5)
    ws = await gw_client.ws_connect("/api/v1/events")
    assert await closed_with(ws, timeout=5) == 4408
    # Silence is not an authentication either way: no event was sent before the close.
    assert ws.closed


async def test_user_receives_own_events_and_not_another_users(gw_client, login_as, make_user, nats_js, unique):
    _, js = nats_js
    ana, bob = await make_user("agent"), await make_user("agent")
    # The Authorization header (non-browser clients) works as well as the first message.
    ws = await gw_client.ws_connect("/api/v1/events", headers={"Authorization": f"Bearer {await login_as(ana)}"})
    ready = await recv(ws)
    assert ready["type"] == "ready" and ready["user"] == {"id": ana, "role": "agent"}

    # Bob's events are published first: if they leaked, they would arrive first.
    await publish(js, assigned(f"c-bob-{unique}", bob))
    await publish(js, message(f"c-bob-{unique}", bob, "for bob"))
    ack = await publish(js, assigned(f"c-ana-{unique}", ana))
    first = await recv(ws)
    assert first["type"] == "conversation.assigned"
    assert first["conversation_id"] == f"c-ana-{unique}" and first["agent_id"] == ana
    assert first["seq"] == ack.seq and first["stream"] == "conversations"
    assert first["conversation_seq"] == 1

    # A message event that names no agent reaches the agent holding the conversation.
    await publish(js, message(f"c-bob-{unique}", None, "still bob's"))
    await publish(js, message(f"c-ana-{unique}", None, "hola"))
    second = await recv(ws)
    assert (second["type"], second["text"], second["conversation_id"]) == (
        "conversation.message", "hola", f"c-ana-{unique}")
    assert second["seq"] > first["seq"]

    # Delivery statuses and the agent's own status changes.
    await publish(js, DeliveryStatus(channel_id="ch-test", conversation_id=f"c-ana-{unique}", agent_id=ana,
                                     outbound_id=f"o-{unique}", status="delivered"))
    status = await recv(ws)
    assert status["type"] == "message.status" and status["status"] == "delivered"
    await publish(js, AgentStatusChanged(agent_id=bob, status="break"))
    await publish(js, AgentStatusChanged(agent_id=ana, status="break", reason="lunch"))
    mine = await recv(ws)
    assert mine["type"] == "agent.status" and mine["agent_id"] == ana and mine["reason"] == "lunch"
    assert mine["stream"] == "agents" and mine["agent_seq"] > 0
    assert mine["seq"] == status["seq"]  # agent events carry the connection's cursor, never another stream's
    await ws.close()


async def test_resume_with_since_gets_missed_events_exactly_once(gw_client, login_as, make_user, nats_js, unique):
    _, js = nats_js
    ana, bob = await make_user("agent"), await make_user("agent")
    token = await login_as(ana)
    ws, _, _ = await connect(gw_client, token)
    await publish(js, assigned(f"c1-{unique}", ana))
    seen = await recv(ws)
    await ws.close()

    # While ana is away: two of hers, one of bob's.
    missed = []
    for i, (owner, text) in enumerate([(ana, "uno"), (bob, "bob"), (ana, "dos")]):
        ack = await publish(js, message(f"c1-{unique}" if owner == ana else f"cb-{unique}", owner, text, seq=10 + i))
        if owner == ana:
            missed.append(ack.seq)

    ws, replayed, ready = await connect(gw_client, token, since=seen["seq"])
    assert [e["seq"] for e in replayed] == missed
    assert [e["text"] for e in replayed] == ["uno", "dos"]
    assert ready["seq"] == missed[-1]

    live = await publish(js, message(f"c1-{unique}", ana, "tres", seq=20))
    event = await recv(ws)
    assert event["seq"] == live.seq and event["text"] == "tres"
    await ws.close()

    # Resuming from the last seq received replays nothing; from 0, everything of hers in the stream.
    ws, replayed, ready = await connect(gw_client, token, since=live.seq)
    assert replayed == [] and ready["seq"] == live.seq
    await ws.close()
    ws, replayed, _ = await connect(gw_client, token, since=0)
    assert [e["seq"] for e in replayed] == [seen["seq"], *missed, live.seq]
    await ws.close()


async def test_resume_of_agent_events_with_since_agent(gw_client, login_as, make_user, nats_js):
    _, js = nats_js
    ana = await make_user("agent")
    token = await login_as(ana)
    first = await publish(js, AgentStatusChanged(agent_id=ana, status="available"))
    second = await publish(js, AgentStatusChanged(agent_id=ana, status="break", reason="café"))
    ws, replayed, ready = await connect(gw_client, token, since_agent=first.seq)
    assert [(e["type"], e["agent_seq"], e["reason"]) for e in replayed] == [("agent.status", second.seq, "café")]
    assert ready["agent_seq"] == second.seq
    await ws.close()
