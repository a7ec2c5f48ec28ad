"""Agent actions reach the router (a local peer playing its internal API) as the caller; errors pass through."""

from __future__ import annotations

import aiohttp

from libs.core.auth import Signer
from libs.core.errors import Transient
from libs.core.settings import ServiceSettings
from services.gateway.adapters.upstream import Upstream
from services.gateway.keys import GW_SETTINGS

from .conftest import bearer


async def test_status_is_forwarded_for_the_caller(gw_client, login_as, make_user, router_peer):
    ana = await make_user("agent")
    resp = await gw_client.put("/api/v1/me/status", json={"status": "break", "reason": "Almuerzo"},
                               headers=bearer(await login_as(ana)))
    assert resp.status == 200
    assert (await resp.json())["agent_id"] == ana
    sent = router_peer.received("PUT", f"/agents/{ana}/status")
    assert [r["body"] for r in sent] == [{"status": "break", "reason": "Almuerzo"}]


async def test_break_reasons_come_from_the_configured_list(gw_client, login_as, make_user, router_peer,
                                                            monkeypatch):
    ana = await make_user("agent")
    token = await login_as(ana)
    me = await (await gw_client.get("/api/v1/me", headers=bearer(token))).json()
    assert me["break_reasons"] == ["Almuerzo", "Café", "Formación", "Reunión", "Baño", "Otro"]
    # A reason outside the list is refused before the router, naming the field.
    resp = await gw_client.put("/api/v1/me/status", json={"status": "break", "reason": "siesta"}, headers=bearer(token))
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "reason"
    # Another list: its reasons are offered and accepted, the old ones refused.
    settings = gw_client.app[GW_SETTINGS]
    monkeypatch.setattr(settings, "break_reasons", ["Pausa activa", "siesta"])
    me = await (await gw_client.get("/api/v1/me", headers=bearer(token))).json()
    assert me["break_reasons"] == ["Pausa activa", "siesta"]
    ok = await gw_client.put("/api/v1/me/status", json={"status": "break", "reason": "siesta"}, headers=bearer(token))
    assert ok.status == 200
    old = await gw_client.put("/api/v1/me/status", json={"status": "break", "reason": "Café"}, headers=bearer(token))
    assert old.status == 400
    # An empty list: any reason.
    monkeypatch.setattr(settings, "break_reasons", [])
    free = await gw_client.put("/api/v1/me/status", json={"status": "break", "reason": "lo que sea"},
                               headers=bearer(token))
    assert free.status == 200
    sent = [r["body"]["reason"] for r in router_peer.received("PUT", f"/agents/{ana}/status")]
    assert sent == ["siesta", "lo que sea"]


async def test_bad_status_is_refused_before_the_router(gw_client, login_as, make_user, router_peer):
    ana = await make_user("agent")
    token = await login_as(ana)
    for body, field in (({"status": "sleeping"}, "status"), ({}, "status"), ({"status": "break", "x": 1}, "x")):
        resp = await gw_client.put("/api/v1/me/status", json=body, headers=bearer(token))
        assert resp.status == 400
        assert (await resp.json())["error"]["field"] == field
    assert router_peer.received("PUT", f"/agents/{ana}/status") == []


async def test_conversation_actions_carry_the_callers_identity(gw_client, login_as, make_user, router_peer, unique):
    ana = await make_user("agent")
    token = await login_as(ana)
    conv = f"conv-{unique}"
    router_peer.conversations[conv] = {"id": conv, "agent_id": ana, "campaign_id": None, "state": "assigned"}
    cases = [
        ("messages", {"text": "Hola, ¿en qué te ayudo? 😊"}, 201),
        ("messages", {"text": "otra", "client_message_id": "console-7:b"}, 201),
        ("accept", None, 200),
        ("reject", {"reason": "busy"}, 200),
        ("transfer", {"agent_id": "someone-else"}, 200),
        ("close", {"typification_id": "t-ok", "fields": {"dni": "1"}}, 200),
    ]
    for action, body, status in cases:
        resp = await gw_client.post(f"/api/v1/conversations/{conv}/{action}", json=body, headers=bearer(token))
        assert resp.status == status, (action, await resp.text())
        assert (await resp.json())["action"] == action
        sent = router_peer.received("POST", f"/conversations/{conv}/{action}")[-1:]
        assert len(sent) == 1
        expected = {**(body or {}), "agent_id": ana}
        if action == "transfer":  # the router names the target to_agent_id / to_campaign_id
            expected = {"to_agent_id": "someone-else", "agent_id": ana}
        assert sent[0]["body"] == expected


async def test_bad_action_bodies_are_refused_and_nothing_is_forwarded(gw_client, login_as, make_user, router_peer,
                                                                     unique):
    ana = await make_user("agent")
    token = await login_as(ana)
    conv = f"conv-{unique}"
    cases = [
        ("messages", {}, "text"),
        ("messages", {"text": "   "}, "text"),
        ("messages", {"text": "x" * 5000}, "text"),
        ("messages", {"text": "x", "client_message_id": "no spaces"}, "client_message_id"),
        ("transfer", {}, "agent_id"),
        ("transfer", {"agent_id": "a", "campaign_id": "c"}, "agent_id"),
        ("close", {"fields": {}}, "typification_id"),
        ("close", {"typification_id": "t", "fields": "no"}, "fields"),
    ]
    for action, body, field in cases:
        resp = await gw_client.post(f"/api/v1/conversations/{conv}/{action}", json=body, headers=bearer(token))
        assert resp.status == 400, (action, body)
        err = (await resp.json())["error"]
        assert err.get("field") == field, (action, err)
        assert err["message"]
    resp = await gw_client.post(f"/api/v1/conversations/{conv}/messages", data=b"nope", headers=bearer(token))
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "body"
    resp = await gw_client.post(f"/api/v1/conversations/{conv}/explode", json={}, headers=bearer(token))
    assert resp.status == 404
    assert [r for r in router_peer.requests if conv in r["path"]] == []


async def test_router_errors_pass_through_in_the_one_shape(gw_client, login_as, make_user, router_peer, unique):
    ana = await make_user("agent")
    token = await login_as(ana)
    conv = f"conv-{unique}"
    router_peer.answers[("POST", f"/conversations/{conv}/accept")] = (
        409, {"error": {"code": "conflict", "message": "the offer expired", "field": "conversation_id"}})
    resp = await gw_client.post(f"/api/v1/conversations/{conv}/accept", headers=bearer(token))
    assert resp.status == 409
    assert await resp.json() == {"error": {"code": "conflict", "message": "the offer expired",
                                           "field": "conversation_id"}}
    router_peer.answers[("POST", f"/conversations/{conv}/reject")] = (500, {"boom": True})
    resp = await gw_client.post(f"/api/v1/conversations/{conv}/reject", headers=bearer(token))
    assert resp.status == 502 and (await resp.json())["error"]["code"] == "bad_gateway"


async def test_conversation_list_and_view_are_the_callers(gw_client, login_as, make_user, router_peer, unique):
    ana, bob = await make_user("agent"), await make_user("agent")
    mine, theirs = f"mine-{unique}", f"theirs-{unique}"
    router_peer.conversations[mine] = {"id": mine, "agent_id": ana, "campaign_id": None, "state": "assigned"}
    router_peer.conversations[theirs] = {"id": theirs, "agent_id": bob, "campaign_id": None, "state": "assigned"}
    token = await login_as(ana)
    resp = await gw_client.get("/api/v1/conversations", headers=bearer(token))
    assert resp.status == 200
    assert [c["id"] for c in (await resp.json())["items"]] == [mine]
    assert router_peer.requests[-1]["query"] == {"agent_id": ana}
    # Asking for another agent's list still gets only one's own.
    resp = await gw_client.get(f"/api/v1/conversations?agent_id={bob}", headers=bearer(token))
    assert [c["id"] for c in (await resp.json())["items"]] == [mine]

    resp = await gw_client.get(f"/api/v1/conversations/{mine}", headers=bearer(token))
    assert resp.status == 200 and (await resp.json())["id"] == mine
    for other in (theirs, f"missing-{unique}"):
        resp = await gw_client.get(f"/api/v1/conversations/{other}", headers=bearer(token))
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    # Closing someone else's conversation is refused before the router sees it.
    resp = await gw_client.post(f"/api/v1/conversations/{theirs}/close", json={"typification_id": "t"},
                                headers=bearer(token))
    assert resp.status == 404
    assert router_peer.received("POST", f"/conversations/{theirs}/close") == []


async def test_unreachable_service_is_a_503():
    async with aiohttp.ClientSession() as session:
        signer = Signer.from_settings(ServiceSettings(env="test"), "gateway")
        up = Upstream(session, "router", "http://127.0.0.1:9", 2.0, signer=signer, scope=lambda p: None)
        try:
            await up.get("/conversations")
        except Transient as err:
            assert err.status == 503 and "router" in err.message
        else:
            raise AssertionError("an unreachable router must raise Transient")
