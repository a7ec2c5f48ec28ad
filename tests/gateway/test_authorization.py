"""The authorization matrix: what each role may see and do, proved against real campaign snapshots in KV."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from libs.contracts import CampaignSnapshot, Permissions

from .conftest import bearer


@dataclass
class World:
    camp_a: str
    camp_b: str
    users: dict[str, str]  # role label -> user id
    tokens: dict[str, str]
    convs: dict[str, str]  # label -> conversation id


@pytest.fixture
async def world(gw_client, gateway, make_user, nats_js, router_peer, services_peer, unique) -> World:
    _, js = nats_js
    labels = {"a1": "agent", "a2": "agent", "b1": "agent", "b2": "agent", "s1": "supervisor",
              "s2": "supervisor", "admin": "admin"}
    users = {label: await make_user(role) for label, role in labels.items()}
    camp_a, camp_b = f"camp-a-{unique}", f"camp-b-{unique}"
    kv = await js.key_value("campaigns")
    await kv.put(camp_a, CampaignSnapshot(id=camp_a, name="A", agents=[users["a1"], users["a2"]],
                                          supervisors=[users["s1"]]).model_dump_json().encode())
    await kv.put(camp_b, CampaignSnapshot(id=camp_b, name="B", agents=[users["b1"], users["b2"]],
                                          supervisors=[users["s2"]],
                                          permissions=Permissions(view_all_cases=True)).model_dump_json().encode())
    for _ in range(200):  # the gateway's KV watch applies them
        if gateway.directory.get(camp_a) and gateway.directory.get(camp_b):
            break
        await asyncio.sleep(0.05)
    convs = {"a1": f"cv-a1-{unique}", "a2": f"cv-a2-{unique}", "b1": f"cv-b1-{unique}"}
    for label, cid in convs.items():
        campaign = camp_a if label.startswith("a") else camp_b
        conv = {"id": cid, "agent_id": users[label], "campaign_id": campaign, "state": "assigned"}
        router_peer.conversations[cid] = conv
        services_peer.conversations[cid] = conv  # the CRM's case of the same conversation
    services_peer.answers[("GET", "/campaigns")] = (200, {"items": [
        {"id": camp_a, "name": "A"}, {"id": camp_b, "name": "B"}, {"id": f"other-{unique}", "name": "C"}],
        "next_cursor": None})
    # Tokens straight from the issuer: logging in is proved elsewhere, and argon2 is slow on purpose.
    tokens = {label: gateway.tokens.issue((await gateway.users.get(uid)).principal, "access")
              for label, uid in users.items()}
    return World(camp_a, camp_b, users, tokens, convs)


async def call(client: Any, w: World, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body, headers=bearer(w.tokens[who]))
    data = await resp.json() if resp.content_type == "application/json" else None
    return resp.status, data


def ids(data: dict[str, Any]) -> set[str]:
    return {item["id"] for item in data["items"]}


async def test_campaigns_supervisors_see_only_theirs(gw_client, world, services_peer):
    w = world
    expected = {"admin": {w.camp_a, w.camp_b}, "s1": {w.camp_a}, "s2": {w.camp_b}, "a1": {w.camp_a},
                "b2": {w.camp_b}}
    for who, visible in expected.items():
        status, data = await call(gw_client, w, who, "GET", "/api/v1/campaigns")
        assert status == 200
        assert ids(data) & {w.camp_a, w.camp_b} == visible, who
    one = {("admin", w.camp_a): 200, ("s1", w.camp_a): 200, ("s2", w.camp_a): 403, ("a1", w.camp_a): 200,
           ("b1", w.camp_a): 403, ("s2", w.camp_b): 200}
    for (who, camp), status in one.items():
        got, data = await call(gw_client, w, who, "GET", f"/api/v1/campaigns/{camp}")
        assert got == status, (who, camp, data)
        if status == 403:
            assert data["error"]["code"] == "forbidden" and data["error"]["field"] == "campaign_id"
    before = len(services_peer.requests)
    for who in ("s1", "a1"):
        status, data = await call(gw_client, w, who, "PATCH", f"/api/v1/campaigns/{w.camp_a}", {"name": "x"})
        assert status == 403 and data["error"]["code"] == "forbidden"
    assert len(services_peer.requests) == before  # refused before the campaigns service
    status, data = await call(gw_client, w, "admin", "PATCH", f"/api/v1/campaigns/{w.camp_a}", {"name": "x"})
    assert status == 200
    forwarded = services_peer.requests[-1]
    assert forwarded["path"] == f"/campaigns/{w.camp_a}" and forwarded["body"] == {"name": "x"}


async def test_campaigns_service_gets_the_callers_identity(gw_client, world, services_peer):
    await call(gw_client, world, "admin", "POST", "/api/v1/typifications", {"id": "t1"})
    # The echo peer answers what it received; the identity headers are checked by the real services.
    status, data = await call(gw_client, world, "admin", "GET", "/api/v1/typifications/t1/history?limit=5")
    assert status == 200
    assert data["echo"]["path"] == "/typifications/t1/history" and data["echo"]["query"] == {"limit": "5"}


async def test_conversations_agents_see_their_own_unless_view_all(gw_client, world):
    w = world
    cases = {
        ("a1", ""): {w.convs["a1"]},
        ("a2", ""): {w.convs["a2"]},
        ("a1", "?scope=all"): {w.convs["a1"]},  # campaign A does not allow viewing all
        ("b2", ""): set(),
        ("b2", "?scope=all"): {w.convs["b1"]},  # campaign B does
        ("s1", ""): {w.convs["a1"], w.convs["a2"]},
        ("s2", ""): {w.convs["b1"]},
        ("admin", f"?campaign_id={w.camp_a}"): {w.convs["a1"], w.convs["a2"]},
    }
    for (who, query), visible in cases.items():
        status, data = await call(gw_client, w, who, "GET", f"/api/v1/conversations{query}")
        assert status == 200, data
        assert ids(data) == visible, (who, query)
    status, data = await call(gw_client, w, "s1", "GET", f"/api/v1/conversations?campaign_id={w.camp_b}")
    assert status == 403

    view = {("a1", "a1"): 200, ("a2", "a1"): 404, ("s1", "a1"): 200, ("s2", "a1"): 404, ("admin", "a1"): 200,
            ("b2", "b1"): 200, ("a1", "b1"): 404}
    for (who, conv), status in view.items():
        got, _ = await call(gw_client, w, who, "GET", f"/api/v1/conversations/{w.convs[conv]}")
        assert got == status, (who, conv)


async def test_acting_on_conversations(gw_client, world, router_peer):
    w = world
    conv = w.convs["a1"]
    path = f"/conversations/{conv}/messages"
    status, _ = await call(gw_client, w, "a2", "POST", f"/api/v1{path}", {"text": "hola"})
    assert status == 404
    status, _ = await call(gw_client, w, "s2", "POST", f"/api/v1{path}", {"text": "hola"})
    assert status == 404
    assert router_peer.received("POST", path) == []
    # Viewing all cases is not acting on them.
    status, _ = await call(gw_client, w, "b2", "POST", f"/api/v1/conversations/{w.convs['b1']}/close",
                           {"typification_id": "t"})
    assert status == 403
    assert router_peer.received("POST", f"/conversations/{w.convs['b1']}/close") == []
    # A supervisor of the campaign acts on behalf of the assigned agent.
    status, _ = await call(gw_client, w, "s1", "POST", f"/api/v1{path}", {"text": "soy la supervisora"})
    assert status == 201
    assert router_peer.received("POST", path)[-1]["body"] == {
        "text": "soy la supervisora", "agent_id": w.users["a1"], "by_user_id": w.users["s1"]}

    decisions = {"a1": 403, "s1": 200, "s2": 404, "admin": 200}
    for who, status in decisions.items():
        got, _ = await call(gw_client, w, who, "GET", f"/api/v1/conversations/{conv}/decisions")
        assert got == status, who


async def test_queues_and_agents_live_views(gw_client, world):
    w = world
    queue = {"admin": 200, "s1": 200, "s2": 403, "a1": 403}
    for who, status in queue.items():
        got, _ = await call(gw_client, w, who, "GET", f"/api/v1/queues/{w.camp_a}")
        assert got == status, who
    agent = {"a1": 200, "a2": 403, "s1": 200, "s2": 403, "admin": 200}
    for who, status in agent.items():
        got, _ = await call(gw_client, w, who, "GET", f"/api/v1/agents/{w.users['a1']}")
        assert got == status, who
    got, _ = await call(gw_client, w, "a1", "POST", f"/api/v1/queues/{w.camp_a}", {})
    assert got == 405


async def test_cases_in_the_crm_are_scoped(gw_client, world, services_peer):
    w = world
    status, data = await call(gw_client, w, "a1", "GET", "/api/v1/cases")
    assert status == 200 and ids(data) == {w.convs["a1"]}
    assert services_peer.requests[-1]["query"] == {"agent_id": w.users["a1"]}
    status, data = await call(gw_client, w, "b2", "GET", f"/api/v1/cases?campaign_id={w.camp_b}")
    assert status == 200 and ids(data) == {w.convs["b1"]}
    status, data = await call(gw_client, w, "s1", "GET", "/api/v1/cases")
    assert ids(data) & set(w.convs.values()) == {w.convs["a1"], w.convs["a2"]}
    before = len(services_peer.requests)
    status, data = await call(gw_client, w, "a2", "PUT", f"/api/v1/cases/{w.convs['a1']}/contact",
                              {"contact_id": "c1"})
    assert status == 404
    assert [r["method"] for r in services_peer.requests[before:]] == ["GET"]  # only the visibility check
    status, _ = await call(gw_client, w, "a1", "PUT", f"/api/v1/cases/{w.convs['a1']}/contact",
                           {"contact_id": "c1"})
    assert status == 200
    assert services_peer.requests[-1]["path"] == f"/conversations/{w.convs['a1']}/contact"


async def test_agents_classify_only_their_own_calls(gw_client, world, services_peer, unique):
    w = world
    owners = {"a1": (w.users["a1"], w.camp_a), "none": (None, w.camp_a), "b1": (w.users["b1"], w.camp_b)}
    calls = {label: f"call-{label}-{unique}" for label in owners}
    for label, (agent, campaign) in owners.items():
        services_peer.answers[("GET", f"/calls/{calls[label]}")] = (200, {
            "id": calls[label], "agent_id": agent, "campaign_id": campaign, "direction": "in"})
    body = {"disposition": "venta", "comment": "ok"}
    # (who, whose call) -> status: seeing a call is not enough to classify it, an agent must own it.
    matrix = {("a1", "a1"): 200, ("a2", "a1"): 404, ("a1", "none"): 403, ("b2", "b1"): 403, ("b1", "b1"): 200,
              ("s1", "a1"): 200, ("s2", "a1"): 404, ("s1", "none"): 200, ("admin", "b1"): 200}
    for (who, whose), status in matrix.items():
        before = len(services_peer.requests)
        got, data = await call(gw_client, w, who, "PUT", f"/api/v1/calls/{calls[whose]}/classification", body)
        assert got == status, (who, whose, data)
        sent = [(r["method"], r["path"]) for r in services_peer.requests[before:]]
        put = ("PUT", f"/calls/{calls[whose]}/classification")
        if status == 200:
            assert put in sent and services_peer.requests[-1]["body"] == body
        else:
            assert put not in sent and data["error"]["code"] in ("not_found", "forbidden")
    got, data = await call(gw_client, w, "a1", "PUT", f"/api/v1/calls/{calls['none']}/classification", body)
    assert data["error"]["field"] == "agent_id"
    # Seeing one call follows the owned-item rule (nobody's call of the agent's campaign is visible).
    assert (await call(gw_client, w, "a1", "GET", f"/api/v1/calls/{calls['none']}"))[0] == 200
    assert (await call(gw_client, w, "a2", "GET", f"/api/v1/calls/{calls['a1']}"))[0] == 404


async def test_configuration_and_users_by_role(gw_client, world):
    w = world
    matrix = [
        ("a1", "GET", "/api/v1/channels", None, 403),
        ("s1", "GET", "/api/v1/channels", None, 200),
        ("s1", "POST", "/api/v1/channels", {"id": "x"}, 403),
        ("admin", "POST", "/api/v1/channels", {"id": "x"}, 201),
        ("a1", "GET", "/api/v1/typifications", None, 200),
        ("a1", "GET", "/api/v1/schedules", None, 403),
        ("a1", "POST", "/api/v1/imports", {}, 403),
        ("s1", "POST", "/api/v1/imports", {}, 201),
        ("a1", "DELETE", "/api/v1/contacts/c1", None, 403),
        ("a1", "PATCH", "/api/v1/contacts/c1", {"name": "Ana"}, 200),
        ("a1", "GET", "/api/v1/users", None, 403),
        ("s1", "GET", "/api/v1/users?role=agent", None, 200),
        ("a1", "GET", f"/api/v1/users/{w.users['a2']}", None, 403),
        ("a1", "GET", f"/api/v1/users/{w.users['a1']}", None, 200),
        ("s1", "POST", "/api/v1/users", {"id": "x"}, 403),
        ("s1", "PATCH", f"/api/v1/users/{w.users['a1']}", {"role": "admin"}, 403),
    ]
    for who, method, path, body, status in matrix:
        got, data = await call(gw_client, w, who, method, path, body)
        assert got == status, (who, method, path, data)
        if status >= 400:
            assert data["error"]["code"] and data["error"]["message"]


async def test_admin_manages_users(gw_client, world, unique):
    w = world
    new = {"id": f"new-{unique}", "username": f"new{unique}", "role": "agent", "password": "a-long-password",
           "display_name": "Nueva"}
    status, data = await call(gw_client, w, "admin", "POST", "/api/v1/users", new)
    assert status == 201 and data["role"] == "agent" and "password" not in data and "password_hash" not in data
    status, data = await call(gw_client, w, "admin", "POST", "/api/v1/users", new)
    assert status == 409 and data["error"]["field"] in ("id", "username")
    bad = [({**new, "id": f"x-{unique}", "password": "short"}, "password"),
           ({**new, "id": f"y-{unique}", "role": "boss"}, "role"),
           ({**new, "id": "bad id!"}, "id")]
    for body, field in bad:
        status, data = await call(gw_client, w, "admin", "POST", "/api/v1/users", body)
        assert status == 400 and data["error"]["field"] == field
    resp = await gw_client.post("/api/v1/auth/login", json={"username": new["username"],
                                                              "password": "a-long-password"})
    assert resp.status == 200
    status, data = await call(gw_client, w, "admin", "PATCH", f"/api/v1/users/{new['id']}",
                              {"password": "another-password", "role": "supervisor"})
    assert status == 200 and data["role"] == "supervisor"
    resp = await gw_client.post("/api/v1/auth/login", json={"username": new["username"],
                                                              "password": "another-password"})
    assert resp.status == 200 and (await resp.json())["user"]["role"] == "supervisor"
    status, data = await call(gw_client, w, "admin", "PATCH", f"/api/v1/users/{w.users['admin']}",
                              {"active": False})
    assert status == 400
    status, _ = await call(gw_client, w, "admin", "PATCH", "/api/v1/users/nobody-at-all", {"active": False})
    assert status == 404
