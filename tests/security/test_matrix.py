"""The authorization matrix: every route × role × in scope / out of scope, against the real services.

Generated from the route tables: every ``/api/v1`` route the gateway serves (its own and every facade
endpoint) must have a scenario here, or the matrix fails. Two campaigns: A, where agent ``a1`` works and
supervisor ``s1`` supervises (in scope), and B, of agent ``b1`` and supervisor ``s2`` (out of scope). Each
scenario names the item (or the query, or the body's campaign) of A and of B.

For each route and role:
- a role the route does not allow gets 403 from the gateway;
- an allowed role passes the gate on A's item (any answer but 401, 403 and 404);
- an allowed agent or supervisor is refused B's item (403 or 404); an admin passes on both.

Then the same calls go straight to the service behind (as if the gateway were bypassed, with the internal
token the gateway would have signed): every refusal holds there too, so each service is a second line.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from libs.contracts import ConversationAssigned, ConversationMessage, ConversationOpened, InboundMessage
from libs.core.auth import Signer
from libs.core.settings import ServiceSettings
from libs.messaging import publish
from services.crm.keys import BLOBS
from services.crm.routes import CRM
from services.gateway.domain import visible_campaigns
from services.gateway.facade import RULES
from services.gateway.routes import ACCESS, API, GATEWAY

ROLES = {"agent": "a1", "supervisor": "s1", "admin": "admin"}
REFUSED = (403, 404)
NOT_PASSED = (401, 403, 404)


@dataclass
class World:
    """Two campaigns and one item of each kind in each; who is who; their tokens."""

    users: dict[str, str]
    tokens: dict[str, str]
    camp: dict[str, str]  # "in" / "out" -> campaign id
    ids: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> "in"/"out" -> id
    u: str = ""

    @property
    def n(self) -> str:
        """Six digits of this run, for phone numbers."""
        return f"{int(self.u, 16) % 10**6:06d}"

    def item(self, kind: str, side: str) -> str:
        return self.ids[kind][side]


async def _call(client: Any, token: str, method: str, path: str, body: Any = None, *, status: int | None = None,
                **kw: Any) -> Any:
    resp = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"}, **kw)
    data = await resp.json() if resp.content_type == "application/json" else await resp.read()
    assert status is None or resp.status == status, (method, path, resp.status, data)
    return data


async def _until(check: Callable[[], Any], what: str, tries: int = 200) -> Any:
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(platform, stack, password_hash) -> AsyncIterator[World]:
    from libs.messaging import nats_session

    async with nats_session(stack.nats_url, "security-matrix") as (_, js):
        yield await _build(platform, js, password_hash)


async def _build(platform: Any, js: Any, password_hash: str) -> World:
    import uuid

    u = uuid.uuid4().hex[:8]
    gw = platform.gateway
    gateway = gw.app[GATEWAY]
    users = {"a1": f"a1-{u}", "b1": f"b1-{u}", "s1": f"s1-{u}", "s2": f"s2-{u}", "admin": f"adm-{u}"}
    roles = {"a1": "agent", "b1": "agent", "s1": "supervisor", "s2": "supervisor", "admin": "admin"}
    for label, uid in users.items():
        await gateway.users.create(id=uid, username=f"{label}{u}", display_name=label, role=roles[label],
                                   password_hash=password_hash)
    admin = gateway.tokens.issue((await gateway.users.get(users["admin"])).principal, "access")
    await _call(gw, admin, "POST", f"{API}/clients", {"id": f"cli-{u}", "name": f"Cliente {u}"}, status=201)
    await _call(gw, admin, "POST", f"{API}/projects", {"id": f"prj-{u}", "client_id": f"cli-{u}", "name": "P"},
                status=201)
    camp = {"in": f"camp-a-{u}", "out": f"camp-b-{u}"}
    for side, agent, sup in (("in", "a1", "s1"), ("out", "b1", "s2")):
        await _call(gw, admin, "POST", f"{API}/campaigns", {
            "id": camp[side], "client_id": f"cli-{u}", "project_id": f"prj-{u}", "name": f"Campaña {side} {u}",
            "channels": [{"id": f"ch-{side}-{u}", "type": "whatsapp"}], "agents": [users[agent]],
            "supervisors": [users[sup]], "external_view": {"enabled": True}}, status=201)
    crm = platform.service("crm").app[CRM]
    await _until(lambda: _seen(gateway, crm, camp), "the gateway and the CRM have both campaigns")
    w = World(users, {}, camp, u=u)
    w.tokens = {label: gateway.tokens.issue((await gateway.users.get(uid)).principal, "access")
                for label, uid in users.items()}
    await _catalogs(platform, w)
    await _make_items(platform, w, js)
    return w


async def _catalogs(platform: Any, w: World) -> None:
    """A schedule, a typification, a field and a channel of this run (made again after a matrix deleted them)."""
    import uuid

    gw, admin, u, v = platform.gateway, w.tokens["admin"], w.u, uuid.uuid4().hex[:6]
    catalog = {"clients": f"cli-{u}", "projects": f"prj-{u}"}
    catalog["schedules"] = (await _call(gw, admin, "POST", f"{API}/schedules", {"name": f"S {v}", "timezone": "UTC"},
                                        status=201))["id"]
    catalog["typifications"] = (await _call(gw, admin, "POST", f"{API}/typifications", {"category": f"C {v}"},
                                            status=201))["id"]
    catalog["fields"] = (await _call(gw, admin, "POST", f"{API}/fields", {"key": f"f_{v}", "label": "F"},
                                     status=201))["key"]
    catalog["channels"] = (await _call(gw, admin, "POST", f"{API}/channels", {
        "id": f"wa-{v}", "type": "whatsapp", "app_secret": "s", "phone_number_id": f"9{w.n}"}, status=201))["id"]
    catalog["ticket-forms"] = (await _call(gw, admin, "POST", f"{API}/ticket-forms", {
        "id": f"form-{v}", "name": f"Form {v}", "fields": [{"key": "x", "label": "X", "type": "boolean"}]},
        status=201))["id"]
    catalog["action-types"] = (await _call(gw, admin, "POST", f"{API}/action-types", {
        "id": f"at-{v}", "name": f"Tipo {v}"}, status=201))["id"]
    for kind, value in catalog.items():
        w.ids[kind] = {"in": value}
    # Each campaign's dispositions (a campaign-scoped catalog).
    w.ids["dispositions"] = {}
    for side in ("in", "out"):
        made = await _call(gw, admin, "POST", f"{API}/dispositions/{w.camp[side]}", {
            "id": f"disp-{side}-{v}", "name": f"Venta {side}"}, status=201)
        w.ids["dispositions"][side] = made["id"]


async def _seen(gateway: Any, crm: Any, camp: dict[str, str]) -> bool:
    return all(gateway.directory.get(c) and crm.campaigns.get(c) for c in camp.values())


async def _make_items(platform: Any, w: World, js: Any) -> None:
    """One item of each kind in campaign A (a1's) and in B (b1's), made through the gateway as an admin."""
    gw, admin, u = platform.gateway, w.tokens["admin"], w.u

    async def post(path: str, body: Any) -> dict[str, Any]:
        return await _call(gw, admin, "POST", f"{API}{path}", body, status=201)

    for side, agent in (("in", "a1"), ("out", "b1")):
        camp, user = w.camp[side], w.users[agent]
        contact = await post("/contacts", {"name": f"Cliente {side} {u}", "phones": [f"+3461{w.n}{len(side)}"]})
        extra = await post("/contacts", {"name": f"Otro {side} {u}"})
        found = {
            "contacts": contact["id"],
            "accounts": (await post("/accounts", {"contact_id": contact["id"], "campaign_id": camp,
                                                  "number": f"N-{side}-{u}"}))["id"],
            "lists": (await post("/lists", {"name": f"Lista {side}", "campaign_id": camp}))["id"],
            "work-items": (await post("/work-items", {"campaign_id": camp, "contact_id": contact["id"],
                                                      "assigned_user": user}))["id"],
            "calls": (await post("/calls", {"direction": "out", "phone": "+34912345678", "agent_id": user,
                                            "campaign_id": camp}))["id"],
            "callbacks": (await post("/callbacks", {"owner_id": user, "due_at": "2031-03-04T10:00:00+00:00",
                                                    "contact_id": contact["id"], "campaign_id": camp}))["id"],
        }
        kind = (await post("/action-types", {"id": f"llamar-{side}-{u}", "name": f"Llamar {side} {u}"}))["id"]
        ticket = await post("/tickets", {"contact_id": contact["id"], "subject": f"T {side}", "agent_id": user,
                                         "actions": [{"kind": kind, "subject": "x", "agent_id": user}]})
        found["tickets"], found["actions"] = ticket["id"], ticket["actions"][0]["id"]
        form = aiohttp.FormData()
        form.add_field("file", b"%PDF-1.4", filename="a.pdf", content_type="application/pdf")
        resp = await gw.post(f"{API}/work-items/{found['work-items']}/attachments", data=form,
                             headers={"Authorization": f"Bearer {admin}"})
        found["attachments"] = (await resp.json())["id"]
        # A list member (the second contact), a CRM case (a conversation as the router's events tell it).
        await _call(gw, admin, "POST", f"{API}/lists/{found['lists']}/members", {"contact_ids": [extra["id"]]})
        found["member"] = extra["id"]
        conv = f"cv-{side}-{u}"
        common = {"conversation_id": conv, "campaign_id": camp, "channel_id": f"ch-{side}-{u}",
                  "channel_type": "whatsapp", "contact_address": f"34600{w.n}{len(side)}"}
        await publish(js, ConversationOpened(**common, seq=1))
        await publish(js, ConversationAssigned(**common, agent_id=user, seq=2))
        # A message carrying a file of the shared store (an e-mail's HTML body, as channels keeps one).
        page = f"<p>cuerpo {side} {u}</p>".encode()
        sha = hashlib.sha256(page).hexdigest()
        await platform.service("crm").app[BLOBS].put(f"media/{sha[:2]}/{sha}", page)
        await publish(js, ConversationMessage(**common, agent_id=user, seq=3, message_id=f"m-{side}-{u}", media=[
            {"kind": "file", "url": f"blob:{sha}", "mime_type": "text/html", "filename": "cuerpo.html"}]))
        found["cases"], found["media"] = conv, sha
        # A process and an upload of the campaign's supervisor.
        sup = w.tokens["s1" if side == "in" else "s2"]
        up = await gw.post(f"{API}/imports?filename=x-{side}.csv", data=b"name;document\nA;1\n",
                           headers={"Authorization": f"Bearer {sup}", "Content-Type": "text/csv"})
        found["imports"] = (await up.json())["id"]
        job = await _call(gw, sup, "POST", f"{API}/processes",
                          {"kind": "recycle", "params": {"list_id": found["lists"]}, "dry_run": True}, status=202)
        found["processes"] = job["id"]
        for kind, value in found.items():
            w.ids.setdefault(kind, {})[side] = value
    crm = platform.service("crm")
    await _until(lambda: _cases_stored(crm, w), "the CRM stored both conversations")
    await _until(lambda: _media_stored(crm, w), "the CRM stored both messages with their file")
    await _router_conversations(platform, w, js)


async def _cases_stored(crm: Any, w: World, kind: str = "cases") -> bool:
    token = Signer.from_settings(ServiceSettings(env="test"), "tests").for_service("crm")
    for side in ("in", "out"):
        resp = await crm.get(f"/conversations/{w.item(kind, side)}", headers={"Authorization": f"Bearer {token}"})
        if resp.status != 200 or (await resp.json()).get("agent_id") is None:
            return False
    return True


async def _media_stored(crm: Any, w: World) -> bool:
    token = Signer.from_settings(ServiceSettings(env="test"), "tests").for_service("crm")
    for side in ("in", "out"):
        resp = await crm.get(f"/conversations/{w.item('cases', side)}/media/{w.item('media', side)}",
                             headers={"Authorization": f"Bearer {token}"})
        await resp.read()
        if resp.status != 200:
            return False
    return True


async def _router_conversations(platform: Any, w: World, js: Any) -> None:
    """A live conversation on the router for each campaign, held by its agent (real inbound messages)."""
    gw = platform.gateway
    for side, agent in (("in", "a1"), ("out", "b1")):
        await _call(gw, w.tokens[agent], "PUT", f"{API}/me/status", {"status": "available"}, status=200)
        await publish(js, InboundMessage(channel_id=f"ch-{side}-{w.u}", channel_type="whatsapp",
                                         contact_address=f"3461{w.n}{len(side)}", text="hola",
                                         provider_message_id=f"wamid.{side}.{w.u}"))

    async def held() -> bool:
        for side, agent in (("in", "a1"), ("out", "b1")):
            body = await _call(gw, w.tokens[agent], "GET", f"{API}/conversations")
            mine = [c for c in body.get("items", []) if c.get("campaign_id") == w.camp[side]]
            if not mine:
                return False
            w.ids.setdefault("conversations", {})[side] = mine[0]["id"]
        return True

    await _until(held, "the router gave each agent their conversation", tries=400)
    # The CRM keeps them too (a reply's media upload goes there).
    await _until(lambda: _cases_stored(platform.service("crm"), w, "conversations"), "the CRM stored them")


# --- scenarios: what to call for each route, in scope (A) and out of scope (B) -----------------------

Side = str


@dataclass(frozen=True)
class Call:
    path: str
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    file: bool = False  # an upload: a multipart `file` (an image), not JSON

    def payload(self, body: Any = None) -> dict[str, Any]:
        """The request's body arguments: a fresh form for an upload, else ``body`` (or the call's) as JSON."""
        if not self.file:
            return {"json": self.body if body is None else body}
        form = aiohttp.FormData()
        form.add_field("file", b"\x89PNG matriz", filename="m.png", content_type="image/png")
        return {"data": form}


Scenario = Callable[[World, Side], Call | None]  # None: this side has no meaning (no scope on this route)

# The kinds whose item ids fill a route's placeholders.
ITEM_KIND = {"campaigns": "camp", "queues": "camp", "agents": "agent", "cases": "cases", "work-items": "work-items",
             "calls": "calls", "callbacks": "callbacks", "tickets": "tickets", "actions": "actions",
             "attachments": "attachments", "accounts": "accounts", "lists": "lists", "processes": "processes",
             "imports": "imports", "contacts": "contacts",
             # The facade's /conversations/{id}/media/{sha}: the CRM's conversations (made from events, with a file).
             "conversations": "cases"}
ITEM_KIND["dispositions"] = "dispositions"
for _catalog in ("clients", "projects", "schedules", "typifications", "fields", "channels", "ticket-forms",
                 "action-types"):
    ITEM_KIND[_catalog] = _catalog
# Collections whose items have no campaign scope (shared catalogs, the contact base, channels, users).
UNSCOPED = {"clients", "projects", "schedules", "typifications", "fields", "channels", "contacts", "exports",
            "users", "ticket-forms", "action-types"}
# Views of a collection narrowed by a campaign in the query: refused out of scope, not just filtered.
SCOPED_VIEWS = {("GET", "work-items"): "campaign_id", ("GET", "imports/template"): "campaign_id"}
# Writes whose body names the campaign they are for.
BODY_CAMPAIGN = {("POST", "accounts"), ("POST", "lists"), ("POST", "work-items"), ("POST", "calls"),
                 ("POST", "callbacks")}
# Actions on a collection (not an item) whose body names the campaign they act in.
BODY_CAMPAIGN_VIEWS = {("POST", "calls/dial")}
# A body each write needs to get past the gate (its validation may still refuse it: that is a 400, a pass).
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "processes"): lambda w, s: {"kind": "recycle", "params": {"list_id": w.item("lists", s)},
                                         "dry_run": True},
}


def _id_for(w: World, public: str, placeholder: str, side: Side) -> str:
    if placeholder == "campaign_id":
        return w.camp[side]
    if placeholder == "contact_id":
        return w.item("member", side)
    if placeholder == "kind":
        return "calls"
    if placeholder == "sha":  # the file a message of the side's conversation carries
        return w.item("media", side)
    kind = ITEM_KIND.get(public)
    if kind == "camp":
        return w.camp[side]
    if kind == "agent":
        return w.users["a1" if side == "in" else "b1"]
    if kind is None:
        return f"none-{w.u}"
    return w.item(kind, side)


def unknown_items(public: str, parts: list[str]) -> bool:
    """A collection whose items the world does not make (one landed after this matrix was written): its
    routes are checked for their roles, and an allowed role must pass the gate (a 404 for the made-up id is a
    pass); the campaign scope of its items is then not covered here."""
    return public not in ITEM_KIND and public not in UNSCOPED and any(p.startswith("{") for p in parts)


def scenario(method: str, public: str, path: str) -> Scenario:
    """The generic scenario of a facade endpoint (``path`` below the collection)."""
    parts = [p for p in path.split("/") if p]

    def make(w: World, side: Side) -> Call | None:
        if unknown_items(public, parts):  # no item of this collection in the world: the role check only
            if side == "out":
                return None
        view = (method, "/".join([public, *parts]))
        # The body names the new item's campaign (or the campaign the action is in).
        creates = (not parts and (method, public) in BODY_CAMPAIGN) or view in BODY_CAMPAIGN_VIEWS
        scoped = public not in UNSCOPED and ((bool(parts) and parts[0].startswith("{")) or creates
                                             or view in SCOPED_VIEWS)
        if side == "out" and not scoped:
            return None
        filled = [(_id_for(w, public, p[1:-1], side) if p.startswith("{") else p) for p in parts]
        query: dict[str, str] = {}
        if view in SCOPED_VIEWS:
            query[SCOPED_VIEWS[view]] = w.camp[side]
        body: Any = None
        if method in ("POST", "PUT", "PATCH"):
            maker = BODIES.get((method, public))
            body = maker(w, side) if maker else {}
            if creates:
                body = {"campaign_id": w.camp[side]}
        if view == ("GET", "imports/template"):
            query["kind"] = "import_accounts"
        return Call("/".join([f"{API}/{public}", *filled]), body, query)

    return make


def own_scenarios() -> dict[tuple[str, str], Scenario]:
    """The gateway's own routes (conversations on the router, users, me)."""
    conv = f"{API}/conversations/{{id}}"

    def conversation(suffix: str, body: Any = None) -> Scenario:
        return lambda w, s: Call(f"{API}/conversations/{w.item('conversations', s)}{suffix}", body)

    return {
        ("POST", f"{API}/auth/login"): lambda w, s: None,  # public: tests/gateway/test_auth.py
        ("POST", f"{API}/auth/refresh"): lambda w, s: None,
        # Every role ends its own session only (it would end the matrix's): tests/security/test_sessions.py
        ("POST", f"{API}/auth/logout"): lambda w, s: None,
        ("GET", f"{API}/openapi.json"): lambda w, s: None,
        # Public: the signed link is the credential (its own tests: forged, altered, expired).
        ("GET", f"{API}/external/cases/{{token}}"): lambda w, s: None,
        ("GET", f"{API}/me"): lambda w, s: Call(f"{API}/me") if s == "in" else None,
        ("PUT", f"{API}/me/status"): lambda w, s: Call(f"{API}/me/status", {"status": "available"})
        if s == "in" else None,
        ("GET", f"{API}/events"): lambda w, s: None,  # a WebSocket: tests/gateway/test_events.py
        ("GET", f"{API}/conversations"): lambda w, s: Call(f"{API}/conversations", query={"campaign_id": w.camp[s]})
        if s == "out" else Call(f"{API}/conversations"),
        # An agent starts a conversation in a campaign of theirs (the body names it); staff do not.
        ("POST", f"{API}/conversations"): lambda w, s: Call(f"{API}/conversations",
                                                           {"campaign_id": w.camp[s], "to": "+34600000000"}),
        ("GET", conv): conversation(""),
        ("GET", f"{conv}/decisions"): conversation("/decisions"),
        ("POST", f"{conv}/{{action}}"): conversation("/messages", {"text": "hola"}),
        ("POST", f"{conv}/media"): lambda w, s: Call(f"{API}/conversations/{w.item('conversations', s)}/media",
                                                     file=True),
        ("GET", f"{API}/dashboard"): lambda w, s: Call(f"{API}/dashboard", query={"campaign_id": w.camp[s]}),
        ("PUT", f"{API}/agents/{{id}}/status"): lambda w, s: Call(
            f"{API}/agents/{w.users['a1' if s == 'in' else 'b1']}/status", {"status": "available"}),
        # Dead letters are every campaign's: admins only, no scope to cross.
        ("GET", f"{API}/dead-letters"): lambda w, s: Call(f"{API}/dead-letters") if s == "in" else None,
        ("GET", f"{API}/dead-letters/replays"): lambda w, s: Call(f"{API}/dead-letters/replays")
        if s == "in" else None,
        ("GET", f"{API}/dead-letters/{{id}}"): lambda w, s: None,  # needs a dead letter: role check below
        ("POST", f"{API}/dead-letters/replay"): lambda w, s: Call(f"{API}/dead-letters/replay", {"sequences": []})
        if s == "in" else None,
        ("GET", f"{API}/users"): lambda w, s: Call(f"{API}/users") if s == "in" else None,
        ("POST", f"{API}/users"): lambda w, s: Call(f"{API}/users", {}) if s == "in" else None,
        ("GET", f"{API}/users/{{id}}"): lambda w, s: Call(f"{API}/users/{w.users['a1' if s == 'in' else 'b1']}"),
        ("PATCH", f"{API}/users/{{id}}"): lambda w, s: Call(f"{API}/users/{w.users['b1']}", {})
        if s == "in" else None,
    }


def scenarios() -> dict[tuple[str, str], Scenario]:
    out = own_scenarios()
    for rule in RULES:
        for endpoint in rule.endpoints:
            template = "/".join(filter(None, (f"{API}/{rule.public}", endpoint.path)))
            out[(endpoint.method, template)] = scenario(endpoint.method, rule.public, endpoint.path)
    return out


# Routes whose rule is finer than role and campaign: (route) -> role -> side -> expected.
OVERRIDES: dict[tuple[str, str], dict[str, dict[str, str]]] = {
    # Supervisors read every user; agents only themselves.
    ("GET", f"{API}/users/{{id}}"): {"supervisor": {"out": "pass"}},
    # An agent's list ignores another campaign: it is narrowed, not refused (checked by content below).
    ("GET", f"{API}/conversations"): {"agent": {"out": "pass"}},
}


def test_every_served_route_has_a_scenario():
    missing = set(ACCESS) - set(scenarios())
    assert not missing, f"routes without a matrix scenario: {sorted(missing)}"


def _expected(method: str, template: str, role: str, side: Side) -> str:
    override = OVERRIDES.get((method, template), {}).get(role, {}).get(side)
    if override:
        return override
    rule = ACCESS[(method, template)]
    if role not in rule.roles:
        return "role"
    parts = template[len(API):].strip("/").split("/")
    facade = {r.public for r in RULES}
    if parts[0] in facade and (unknown_items(parts[0], parts[1:]) or (
            parts[0] in UNSCOPED and parts[0] not in ITEM_KIND and any(p.startswith("{") for p in parts))):
        return "reach"
    if role == "admin":
        return "pass"
    if side == "out":
        return "scope"
    return "pass"


async def _fresh_delete(platform: Any, w: World, template: str, side: Side) -> Call | None:
    """A new contact, account or list member to delete (the others are refused or conflict, and stay)."""
    gw, admin = platform.gateway, w.tokens["admin"]
    if template == f"{API}/contacts/{{id}}":
        c = await _call(gw, admin, "POST", f"{API}/contacts", {"name": "Borrar"}, status=201)
        return Call(f"{API}/contacts/{c['id']}")
    if template == f"{API}/accounts/{{id}}":
        import uuid

        a = await _call(gw, admin, "POST", f"{API}/accounts", {
            "contact_id": w.item("contacts", side), "campaign_id": w.camp[side], "number": uuid.uuid4().hex[:12]},
            status=201)
        return Call(f"{API}/accounts/{a['id']}")
    if template == f"{API}/lists/{{id}}/members/{{contact_id}}":
        c = await _call(gw, admin, "POST", f"{API}/contacts", {"name": "Miembro"}, status=201)
        await _call(gw, admin, "POST", f"{API}/lists/{w.item('lists', side)}/members", {"contact_ids": [c["id"]]})
        return Call(f"{API}/lists/{w.item('lists', side)}/members/{c['id']}")
    return None


@pytest.mark.timeout(600)
async def test_route_role_scope_matrix_at_the_gateway(platform, world):
    results: list[str] = []
    checked = 0
    seen: dict[tuple[str, int], int] = {}
    for (method, template), make in sorted(scenarios().items(), key=lambda kv: kv[0][0] == "DELETE"):
        for role, label in ROLES.items():
            for side in ("in", "out"):
                call = make(world, side)
                if call is None:
                    continue
                want = _expected(method, template, role, side)
                if method == "DELETE":  # a fresh item for each attempt: a delete that passes removes it
                    call = await _fresh_delete(platform, world, template, side) or call
                resp = await platform.gateway.request(method, call.path, params=call.query, **call.payload(),
                                                      headers={"Authorization": f"Bearer {world.tokens[label]}"})
                got = resp.status
                await resp.read()
                checked += 1
                seen[(want, got)] = seen.get((want, got), 0) + 1
                ok = (got == 403 if want == "role" else got in REFUSED if want == "scope"
                      else got not in (401, 403) and got < 500 if want == "reach" else got not in NOT_PASSED
                      and got < 500)
                if not ok:
                    results.append(f"{method} {call.path} as {role} ({side}): {got}, expected {want}")
    print(f"matrix: {checked} calls; (expected, status) -> count: {dict(sorted(seen.items()))}")
    print("role only (no items in the world):", sorted({r.public for r in RULES for e in r.endpoints
                                                        if unknown_items(r.public, list(e.parts))}))
    assert not results, "\n".join(results)
    assert checked > 400


def _upstream(method: str, template: str, call: Call, caller: str, role: str, holder: str
              ) -> tuple[str, str, Any] | None:
    """The call the gateway would make to the service for a facade route (service, path, body); for the
    gateway's own conversation routes, the router's. ``None``: a gateway-only route."""
    for rule in RULES:
        for endpoint in rule.endpoints:
            if (endpoint.method, "/".join(filter(None, (f"{API}/{rule.public}", endpoint.path)))) != (method,
                                                                                                       template):
                continue
            given = call.path[len(f"{API}/{rule.public}"):].strip("/").split("/") if endpoint.parts else []
            values = {p[1:-1]: v for p, v in zip(endpoint.parts, given, strict=True) if p.startswith("{")}
            return rule.upstream, rule.upstream_path(endpoint, values), call.body
    conv = f"{API}/conversations/{{id}}"
    if (method, template) == ("POST", f"{API}/conversations"):  # the gateway names the caller as the agent
        return "router", "/conversations", {**(call.body or {}), "agent_id": caller}
    if template == f"{conv}/media":  # the file goes to the CRM, which keeps it
        return "crm", call.path[len(API):], None
    if template in (conv, f"{conv}/decisions", f"{conv}/{{action}}"):
        path = call.path[len(API):]
        # As the gateway sends it: an agent acts as themself; others on behalf of the conversation's agent.
        acting = {"agent_id": caller} if role == "agent" else {"agent_id": holder, "by_user_id": caller}
        return "router", path, ({**(call.body or {}), **acting} if method == "POST" else None)
    return None


@pytest.mark.timeout(600)
async def test_every_refusal_holds_at_the_service_too(platform, world):
    """The same matrix straight to each service, with the internal token the gateway would have signed:
    each service refuses on its own what the gateway refuses (role and scope), and lets the rest pass."""
    gateway = platform.gateway.app[GATEWAY]
    signer = Signer.from_settings(ServiceSettings(env="test"), "gateway")
    await _catalogs(platform, world)
    results: list[str] = []
    checked = 0
    for (method, template), make in sorted(scenarios().items(), key=lambda kv: kv[0][0] == "DELETE"):
        for role, label in ROLES.items():
            p = (await gateway.users.get(world.users[label])).principal
            scope = visible_campaigns(p, gateway.directory)
            for side in ("in", "out"):
                call = make(world, side)
                if call is None:
                    continue
                if method == "DELETE":
                    call = await _fresh_delete(platform, world, template, side) or call
                holder = world.users["a1" if side == "in" else "b1"]
                upstream = _upstream(method, template, call, p.user_id, role, holder)
                if upstream is None:
                    continue
                service, path, body = upstream
                want = _expected(method, template, role, side)
                token = signer.for_user(service, p.user_id, role, scope)
                resp = await platform.service(service).request(
                    method, path, params=call.query, **call.payload(body),
                    headers={"Authorization": f"Bearer {token}"})
                got = resp.status
                await resp.read()
                checked += 1
                reached = got not in (401, 403) and got < 500
                ok = (got in REFUSED if want in ("role", "scope")
                      else reached if want == "reach" else got not in NOT_PASSED and got < 500)
                if not ok:
                    results.append(f"{service} {method} {path} as {role} ({side}): {got}, expected {want}")
    assert not results, f"{len(results)} of {checked}:\n" + "\n".join(results)
    assert checked > 300


async def test_lists_and_exports_are_narrowed_in_the_service(platform, world):
    """What is filtered rather than refused: each list and export holds campaign A's items, never B's,
    for A's agent and supervisor; the admin's hold both. Exports stream from the CRM's own query."""
    w, gw = world, platform.gateway

    async def ids(label: str, path: str) -> set[str]:
        body = await _call(gw, w.tokens[label], "GET", f"{API}{path}", status=200)
        return {str(i.get("id")) for i in body["items"]}

    async def export(label: str, path: str) -> str:
        resp = await gw.get(f"{API}{path}", headers={"Authorization": f"Bearer {w.tokens[label]}"})
        assert resp.status == 200, (label, path, resp.status, await resp.text())
        return (await resp.read()).decode("utf-8-sig")

    for kind, path in (("calls", "/calls"), ("callbacks", "/callbacks"), ("tickets", "/tickets"),
                       ("actions", "/actions"), ("accounts", "/accounts"), ("cases", "/cases"),
                       ("lists", "/lists"), ("processes", "/processes"), ("conversations", "/conversations")):
        seen = {label: await ids(label, path) for label in ("a1", "s1", "admin") if not (
            label == "a1" and kind in ("lists", "processes"))}
        for label, got in seen.items():
            if label != "admin":
                assert w.item(kind, "out") not in got, (label, kind)
        assert w.item(kind, "in") in seen["s1"], kind
        if kind != "conversations":  # the admin names a campaign or an agent to list the router's
            assert {w.item(kind, "in"), w.item(kind, "out")} <= seen["admin"], kind
    # Exports: the supervisor's and the agent's hold A's rows only; the admin's both.
    for label in ("s1", "a1"):
        text = await export(label, "/calls/export?format=csv")
        assert w.item("calls", "in") in text and w.item("calls", "out") not in text, label
        contacts = await export(label, "/contacts/export?format=csv")
        assert f"Cliente in {w.u}" in contacts and f"Cliente out {w.u}" not in contacts, label
    text = await export("s1", "/exports/tickets?format=csv")
    assert w.item("tickets", "in") in text and w.item("tickets", "out") not in text
    both = await export("admin", "/contacts/export?format=csv")
    assert f"Cliente in {w.u}" in both and f"Cliente out {w.u}" in both


async def test_moving_and_reading_a_channels_conversations_are_scoped_in_the_router_too(platform, world):
    """Issue 13 item 12: a supervisor moves a conversation only to a campaign they supervise, refused at the
    gateway (``campaign_id``) and again by the router (``to_campaign_id``); nor closes or moves one of another
    campaign. Which conversations are open on a channel (what keeps channels from deleting it) is for the
    channels service's own identity and admins, not for agents or supervisors."""
    w, gw = world, platform.gateway
    mine, theirs = w.item("conversations", "in"), w.item("conversations", "out")
    s1 = w.tokens["s1"]
    err = await _call(gw, s1, "POST", f"{API}/conversations/{mine}/transfer", {"campaign_id": w.camp["out"]},
                      status=403)
    assert err["error"]["field"] == "campaign_id"
    for action, body in (("close", {"typification_id": "x"}), ("transfer", {"campaign_id": w.camp["in"]})):
        resp = await gw.post(f"{API}/conversations/{theirs}/{action}", json=body,
                             headers={"Authorization": f"Bearer {s1}"})
        assert resp.status in REFUSED, (action, resp.status, await resp.text())
    # Straight to the router, with the token the gateway would sign for s1.
    signer = Signer.from_settings(ServiceSettings(env="test"), "gateway")
    router = platform.service("router")

    def as_user(label: str) -> str:  # a1 works in A, s1 supervises A
        role = {"a1": "agent", "s1": "supervisor", "admin": "admin"}[label]
        return signer.for_user("router", w.users[label], role, None if role == "admin" else [w.camp["in"]])

    acting = {"agent_id": w.users["a1"], "by_user_id": w.users["s1"]}
    err = await _call(router, as_user("s1"), "POST", f"/conversations/{mine}/transfer",
                      {**acting, "to_campaign_id": w.camp["out"]}, status=403)
    assert err["error"]["field"] == "to_campaign_id"
    for action, body in (("close", {"typification_id": "x"}), ("transfer", {"to_campaign_id": w.camp["in"]})):
        resp = await router.post(f"/conversations/{theirs}/{action}", json={**body, "by_user_id": w.users["s1"]},
                                 headers={"Authorization": f"Bearer {as_user('s1')}"})
        assert resp.status in REFUSED, (action, resp.status, await resp.text())
    assert (await _call(router, as_user("s1"), "GET", f"/conversations/{mine}"))["campaign_id"] == w.camp["in"]
    # A channel's open conversations: A's conversation came in on ch-in.
    path = f"/channels/ch-in-{w.u}/conversations"
    for label in ("a1", "s1"):
        err = await _call(router, as_user(label), "GET", path, status=403)
        assert err["error"]["field"] == "role"
    channels = Signer.from_settings(ServiceSettings(env="test"), "channels").for_service("router")
    for token in (as_user("admin"), channels):
        body = await _call(router, token, "GET", path, status=200)
        assert body["open"] >= 1 and mine in [i["id"] for i in body["items"]]
