"""The campaigns HTTP API against the real PostgreSQL, and the snapshots it keeps in the NATS KV bucket."""

from __future__ import annotations

import asyncio
from typing import Any

from libs.contracts import CampaignSnapshot
from libs.messaging import watch_kv

from ..conftest import as_user


async def test_catalog_crud_happy_path(http: Any, unique: str) -> None:
    status, client = await http("POST", "/clients", {"name": f"ACME {unique}"})
    assert status == 201 and client["id"].startswith("cli-") and client["status"] == "active"
    cid = client["id"]
    status, project = await http("POST", "/projects", {"client_id": cid, "name": "Retail"})
    assert status == 201 and project["client_id"] == cid
    _, got = await http("GET", f"/projects/{project['id']}", expect=200)
    assert got["name"] == "Retail"
    _, patched = await http("PATCH", f"/projects/{project['id']}", {"name": "Retail banking"}, expect=200)
    assert patched["name"] == "Retail banking" and patched["version"] == 2
    _, listed = await http("GET", f"/projects?client_id={cid}", expect=200)
    assert [p["id"] for p in listed["items"]] == [project["id"]] and listed["next_cursor"] is None
    _, history = await http("GET", f"/projects/{project['id']}/history", expect=200)
    assert [h["action"] for h in history["items"]] == ["update", "create"]
    first = history["items"][0]
    assert first["actor"] == "admin-test" and first["diff"]["name"]["to"] == "Retail banking"
    # A client with projects cannot go; its project can, then it can.
    status, err = await http("DELETE", f"/clients/{cid}")
    assert status == 409 and err["error"]["field"] == "id"
    await http("DELETE", f"/projects/{project['id']}", expect=204)
    await http("DELETE", f"/clients/{cid}", expect=204)
    status, err = await http("GET", f"/clients/{cid}")
    assert status == 404 and err["error"]["code"] == "not_found"


async def test_catalog_bad_input_names_the_field(http: Any, unique: str) -> None:
    cases = [
        ("/clients", {}, "name"),
        ("/clients", {"name": "x", "colour": "red"}, "colour"),
        ("/clients", {"id": "has space", "name": "x"}, "id"),
        ("/projects", {"client_id": f"nobody-{unique}", "name": "x"}, "client_id"),
        ("/typifications", {"category": ""}, "category"),
        ("/fields", {"key": "Bad-Key", "label": "x"}, "key"),
        ("/fields", {"key": f"f_{unique}", "label": "x", "type": "select"}, "options"),
        ("/fields", {"key": f"f_{unique}", "label": "x", "type": "text", "options": ["a"]}, "options"),
        ("/schedules", {"name": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ("/schedules", {"name": "x", "weekly": {"8": []}}, "weekly"),
        ("/schedules", {"name": "x", "weekly": {"1": [{"start": "25:00", "end": "10:00"}]}}, "weekly.1[0].start"),
        ("/schedules", {"name": "x", "valid_from": "2026-02-01", "valid_until": "2026-01-01"}, "valid_until"),
        ("/schedules", {"name": "x", "exceptions": [{"day": "2026-12-25", "closed": False}]},
         "exceptions[0].intervals"),
    ]
    for path, payload, field in cases:
        status, err = await http("POST", path, payload)
        assert status == 400, (path, payload, err)
        assert err["error"]["field"] == field, (payload, err)
    status, err = await http("POST", "/clients", b"{not json")
    assert status == 400 and err["error"]["field"] == "body"
    status, err = await http("POST", "/clients", [1, 2])
    assert status == 400 and err["error"]["field"] == "body"
    # Nothing was written by the refused requests.
    _, fields = await http("GET", "/fields?limit=500", expect=200)
    assert f"f_{unique}" not in {f["key"] for f in fields["items"]}


async def test_every_list_pages_with_a_cursor(http: Any, body: Any, world: Any, unique: str) -> None:
    """Catalogs, campaigns and histories answer ``{"items", "next_cursor"}`` and page by cursor, each row once."""
    await http("POST", "/clients", {"id": f"pg-{unique}", "name": f"Paging {unique}"}, expect=201)
    made = [f"pg-{unique}-{i}" for i in range(5)]
    for pid in made:
        await http("POST", "/projects", {"id": pid, "client_id": f"pg-{unique}", "name": pid}, expect=201)
    await http("PATCH", f"/projects/{made[0]}", {"name": "renamed"}, expect=200)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        after = f"&cursor={cursor}" if cursor else ""
        _, page = await http("GET", f"/projects?client_id=pg-{unique}&limit=2{after}", expect=200)
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    _, first = await http("GET", f"/projects/{made[0]}/history?limit=1", expect=200)
    assert [h["action"] for h in first["items"]] == ["update"] and first["next_cursor"]
    _, rest = await http("GET", f"/projects/{made[0]}/history?limit=1&cursor={first['next_cursor']}", expect=200)
    assert [h["action"] for h in rest["items"]] == ["create"]
    for i in range(3):
        await http("POST", "/campaigns", body(id=f"pgc-{unique}-{i}", name=f"Paged {unique} {i}", channels=[]),
                   expect=201)
    _, one = await http("GET", f"/campaigns?client_id={world['client']}&limit=1", expect=200)
    _, two = await http("GET", f"/campaigns?client_id={world['client']}&limit=5&cursor={one['next_cursor']}",
                        expect=200)
    ids = [c["id"] for c in one["items"] + two["items"]]
    assert len(ids) == len(set(ids)) and {f"pgc-{unique}-{i}" for i in range(3)} <= set(ids)
    status, err = await http("GET", "/clients?cursor=garbage")
    assert status == 400 and err["error"]["field"] == "cursor"


async def test_duplicates_conflict(http: Any, unique: str) -> None:
    await http("POST", "/clients", {"id": f"dup-{unique}", "name": f"Dup {unique}"}, expect=201)
    status, err = await http("POST", "/clients", {"id": f"dup-{unique}", "name": f"Other {unique}"})
    assert status == 409 and err["error"]["field"] == "id"
    status, err = await http("POST", "/clients", {"name": f"dup {unique}".upper()})
    assert status == 409 and err["error"]["field"] == "name"
    await http("POST", "/typifications", {"category": f"C{unique}", "subcategory": "S"}, expect=201)
    status, err = await http("POST", "/typifications", {"category": f"c{unique}", "subcategory": "s"})
    assert status == 409 and err["error"]["field"] == "subcategory"


async def test_writes_are_admin_only(http: Any, unique: str) -> None:
    status, err = await http("POST", "/clients", {"name": f"N {unique}"},
                             headers=as_user("campaigns", "s1", "supervisor"))
    assert status == 403 and err["error"]["field"] == "role"
    status, _ = await http("GET", "/clients", headers=as_user("campaigns", "a1", "agent"))
    assert status == 403  # clients are for supervisors and admins, as in the gateway
    status, _ = await http("GET", "/typifications", headers=as_user("campaigns", "a1", "agent"))
    assert status == 200


async def test_campaign_snapshot_appears_changes_and_disappears(http: Any, body: Any, kv_get: Any,
                                                                 until: Any) -> None:
    payload = body(agents=[])
    status, created = await http("POST", "/campaigns", payload)
    assert status == 201, created
    cid = created["id"]
    assert created["status"] == "active" and created["version"] == 1
    snap = CampaignSnapshot.model_validate(await until(lambda: kv_get(cid)))
    assert snap.version == 1 and snap.name == payload["name"]
    assert [c.id for c in snap.channels] == [payload["channels"][0]["id"]]
    assert snap.custom_fields[0].required and snap.custom_fields[0].label == "Documento"
    assert {t.id for t in snap.typifications} >= set(payload["closing_typifications"])
    assert snap.closure_problems(payload["closing_typifications"][0], {})[0][0].startswith("fields.")
    assert snap.closure_problems(payload["closing_typifications"][0], {payload["custom_fields"][0]["key"]: "1"}) == []

    _, patched = await http("PATCH", f"/campaigns/{cid}", {"name": "Renamed", "script": "Hola"}, expect=200)
    assert patched["version"] == 2
    snap = CampaignSnapshot.model_validate(await until(
        lambda: _at_version(kv_get, cid, 2)))
    assert snap.name == "Renamed" and snap.script == "Hola" and snap.updated_by == "admin-test"

    _, history = await http("GET", f"/campaigns/{cid}/history", expect=200)
    assert history["items"][0]["diff"]["name"] == {"from": payload["name"], "to": "Renamed"}

    _, archived = await http("DELETE", f"/campaigns/{cid}", expect=200)
    assert archived["status"] == "archived"
    await until(lambda: _gone(kv_get, cid))
    status, err = await http("PATCH", f"/campaigns/{cid}", {"name": "again"})
    assert status == 409 and err["error"]["field"] == "status"


async def _at_version(kv_get: Any, cid: str, version: int) -> Any:
    value = await kv_get(cid)
    return value if value and value["version"] >= version else None


async def _gone(kv_get: Any, cid: str) -> bool:
    return await kv_get(cid) is None


async def test_a_kv_watcher_receives_the_change(http: Any, body: Any, nats_js: Any) -> None:
    _, js = nats_js
    status, created = await http("POST", "/campaigns", body())
    assert status == 201
    cid = created["id"]
    seen: asyncio.Queue[Any] = asyncio.Queue()
    stop, ready = asyncio.Event(), asyncio.Event()

    async def on_change(key: str, value: Any) -> None:
        if key == cid:
            await seen.put(value)

    task = asyncio.create_task(watch_kv(js, "campaigns", on_change, stop=stop, ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        first = await asyncio.wait_for(seen.get(), 5)
        assert first["version"] == 1
        await http("PATCH", f"/campaigns/{cid}", {"routing": {"strategy": "least_busy"}}, expect=200)
        changed = await asyncio.wait_for(seen.get(), 5)
        assert changed["version"] == 2 and changed["routing"]["strategy"] == "least_busy"
    finally:
        stop.set()
        await task


async def test_campaign_bad_input_names_the_field_and_writes_nothing(http: Any, body: Any, world: Any,
                                                                      kv_get: Any) -> None:
    u = world["u"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"),
        ({"nickname": "x"}, "nickname"),
        ({"client_id": f"nobody-{u}"}, "client_id"),
        ({"project_id": f"nothing-{u}"}, "project_id"),
        ({"closing_typifications": [world["sale"], f"ghost-{u}"]}, "closing_typifications[1]"),
        ({"closing_typifications": [world["sale"], world["sale"]]}, "closing_typifications[1]"),
        ({"transfer_typification": f"ghost-{u}"}, "transfer_typification"),
        ({"inactivity_timeout_s": None}, "inactivity_timeout_s"),
        ({"inactivity_typification": None}, "inactivity_typification"),
        ({"inactivity_timeout_s": -5}, "inactivity_timeout_s"),
        ({"ignore_comment_typification": world["ignore"]}, "ignore_comment_typification"),
        ({"custom_fields": [{"key": f"ghost_{u}", "required": True}]}, "custom_fields[0].key"),
        ({"channels": [{"id": f"x-{u}", "type": "fax"}]}, "channels[0].type"),
        ({"channels": [{"id": f"unregistered-{u}"}]}, "channels[0].type"),
        ({"schedule_id": f"ghost-{u}"}, "schedule_id"),
        ({"out_of_hours": {"action": "close", "send_message": True}}, "out_of_hours.message"),
        ({"out_of_hours": {"action": "explode"}}, "out_of_hours.action"),
        ({"permissions": {"history_hours": -1}}, "permissions.history_hours"),
        ({"permissions": {"telepathy": True}}, "permissions.telepathy"),
        ({"routing": {"strategy": "random"}}, "routing.strategy"),
        ({"routing": {"weights": {"fax": 1}}}, "routing.weights.fax"),
        ({"routing": {"overflow": "campaign"}}, "routing.overflow_campaign_id"),
        ({"tabs": [{"name": "CRM", "url_template": "ftp://crm/{contact_id}"}]}, "tabs[0].url_template"),
        ({"tabs": [{"name": "CRM", "url_template": "https://crm/{password}"}]}, "tabs[0].url_template"),
        ({"linked_campaigns": [f"ghost-{u}"]}, "linked_campaigns[0]"),
        ({"linked_campaigns": [f"cmp-{u}"]}, "linked_campaigns[0]"),
        ({"case_options": {"combine_cases": "maybe"}}, "case_options.combine_cases"),
        ({"case_options": {"comment_email_domains": ["ok.com", "not a domain"]}},
         "case_options.comment_email_domains[1]"),
        ({"case_options": {"comment_email_domains": ["a.com", "A.com."]}}, "case_options.comment_email_domains[1]"),
        ({"case_options": {"comment_email_domains": ["localhost"]}}, "case_options.comment_email_domains[0]"),
        ({"case_options": {"comment_email_domains": ["*.evil.com"]}}, "case_options.comment_email_domains[0]"),
        ({"agents": ["ok", ""]}, "agents[1]"),
        ({"supervisors": "sup"}, "supervisors"),
    ]
    for override, field in cases:
        status, err = await http("POST", "/campaigns", body(**override))
        assert status == 400, (override, status, err)
        assert err["error"]["field"] == field, (override, err)
    status, _ = await http("GET", f"/campaigns/cmp-{u}")
    assert status == 404
    assert await kv_get(f"cmp-{u}") is None


async def test_project_must_belong_to_the_client(http: Any, body: Any, unique: str) -> None:
    await http("POST", "/clients", {"id": f"other-{unique}", "name": f"Other {unique}"}, expect=201)
    status, err = await http("POST", "/campaigns", body(client_id=f"other-{unique}"))
    assert status == 400 and err["error"]["field"] == "project_id"


async def test_a_channel_serves_one_active_campaign(http: Any, body: Any, world: Any, kv_get: Any) -> None:
    u = world["u"]
    await http("POST", "/campaigns", body(), expect=201)
    second = body(id=f"second-{u}", name="Second",
                  channels=[{"id": f"sms-{u}", "type": "sms"}, {"id": f"wa-{u}", "type": "whatsapp"}])
    status, err = await http("POST", "/campaigns", second)
    assert status == 409 and err["error"]["field"] == "channels[1].id"
    assert f"wa-{u}" in err["error"]["message"] and f"cmp-{u}" in err["error"]["message"]
    status, _ = await http("GET", f"/campaigns/second-{u}")
    assert status == 404
    # A paused campaign may hold it; activating it then conflicts.
    await http("POST", "/campaigns", {**second, "status": "paused"}, expect=201)
    status, err = await http("POST", f"/campaigns/second-{u}/activate")
    assert status == 409 and f"wa-{u}" in err["error"]["message"]
    # Once the first campaign lets the channel go, the second can take it.
    await http("PATCH", f"/campaigns/cmp-{u}", {"channels": []}, expect=200)
    _, active = await http("POST", f"/campaigns/second-{u}/activate", expect=200)
    assert active["status"] == "active"


async def test_concurrent_claims_of_a_channel_let_one_win(http: Any, body: Any, world: Any) -> None:
    u = world["u"]
    bodies = [body(id=f"race{i}-{u}", name=f"Race {i}", channels=[{"id": f"race-{u}", "type": "sms"}])
              for i in range(4)]
    results = await asyncio.gather(*(http("POST", "/campaigns", b) for b in bodies))
    statuses = sorted(s for s, _ in results)
    assert statuses == [201, 409, 409, 409], results


async def test_deactivation_needs_no_agents_and_no_active_conversations(http: Any, body: Any, world: Any,
                                                                         nats_js: Any, until: Any,
                                                                         pool: Any) -> None:
    from libs.contracts import ConversationClosed, ConversationOpened
    from libs.messaging import publish

    u = world["u"]
    _, js = nats_js
    await http("POST", "/campaigns", body(), expect=201)
    status, err = await http("POST", f"/campaigns/cmp-{u}/deactivate")
    assert status == 409 and err["error"]["field"] == "agents" and f"agent-{u}" in err["error"]["message"]
    status, err = await http("DELETE", f"/campaigns/cmp-{u}")
    assert status == 409
    await http("PATCH", f"/campaigns/cmp-{u}", {"agents": []}, expect=200)

    common = {"conversation_id": f"conv-{u}", "campaign_id": f"cmp-{u}", "channel_id": f"wa-{u}",
              "channel_type": "whatsapp", "contact_address": "+573001112233"}
    await publish(js, ConversationOpened(**common, seq=1))

    async def open_count() -> int:
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM campaigns.open_conversations WHERE campaign_id = $1"
                                       " AND NOT closed", f"cmp-{u}")

    await until(open_count, timeout=10)
    status, err = await http("POST", f"/campaigns/cmp-{u}/deactivate")
    assert status == 409 and err["error"]["field"] == "status" and "1 active conversation" in err["error"]["message"]

    await publish(js, ConversationClosed(**common, seq=2, typification_id=world["sale"]))

    async def closed() -> bool:
        return await open_count() == 0

    await until(closed, timeout=10)
    _, paused = await http("POST", f"/campaigns/cmp-{u}/deactivate", expect=200)
    assert paused["status"] == "paused"


async def test_query_campaigns_by_filters(http: Any, body: Any, world: Any) -> None:
    u = world["u"]
    await http("POST", "/campaigns", body(agents=[]), expect=201)
    await http("POST", "/campaigns", body(id=f"b-{u}", name=f"Beta {u}", status="paused",
                                          channels=[{"id": f"ig-{u}", "type": "instagram"}],
                                          ignore_comment_typification=world["ignore"]), expect=201)
    found = {}
    for query in (f"client_id={world['client']}", f"project_id={world['project']}", f"channel_id=ig-{u}",
                  f"client_id={world['client']}&status=paused", f"campaign=Beta {u}",
                  f"client_id={world['client']}&from=2000-01-01&to=2999-01-01",
                  f"client_id={world['client']}&to=2000-01-01", f"agent_id=agent-{u}", f"supervisor_id=sup-{u}"):
        _, rows = await http("GET", f"/campaigns?{query}", expect=200)
        found[query] = sorted(r["id"] for r in rows["items"])
    assert found[f"client_id={world['client']}"] == sorted([f"cmp-{u}", f"b-{u}"])
    assert found[f"channel_id=ig-{u}"] == [f"b-{u}"]
    assert found[f"client_id={world['client']}&status=paused"] == [f"b-{u}"]
    assert found[f"campaign=Beta {u}"] == [f"b-{u}"]
    assert len(found[f"client_id={world['client']}&from=2000-01-01&to=2999-01-01"]) == 2
    assert found[f"client_id={world['client']}&to=2000-01-01"] == []
    assert found[f"agent_id=agent-{u}"] == [f"b-{u}"]
    assert found[f"supervisor_id=sup-{u}"] == sorted([f"cmp-{u}", f"b-{u}"])
    for bad, field in (("from=yesterday", "from"), ("status=sleeping", "status"), ("limit=0", "limit"),
                       ("from=2026-02-02&to=2026-02-01", "to")):
        status, err = await http("GET", f"/campaigns?{bad}")
        assert status == 400 and err["error"]["field"] == field


async def test_schedule_change_republishes_the_campaigns_using_it(http: Any, body: Any, world: Any,
                                                                  kv_get: Any, until: Any) -> None:
    u = world["u"]
    _, sch = await http("POST", "/schedules", {
        "name": f"Office {u}", "timezone": "America/Bogota",
        "weekly": {str(d): [{"start": "08:00", "end": "12:00"}, {"start": "14:00", "end": "18:00"}]
                   for d in range(1, 6)},
    }, expect=201)
    await http("POST", "/campaigns", body(schedule_id=sch["id"]), expect=201)
    snap = await until(lambda: kv_get(f"cmp-{u}"))
    assert snap["schedule"]["timezone"] == "America/Bogota"
    await http("PATCH", f"/schedules/{sch['id']}", {"timezone": "Europe/Madrid"}, expect=200)
    snap = await until(lambda: _at_version(kv_get, f"cmp-{u}", 2))
    assert snap["schedule"]["timezone"] == "Europe/Madrid"
    status, err = await http("DELETE", f"/schedules/{sch['id']}")
    assert status == 409 and f"cmp-{u}" in err["error"]["message"]
    status, state = await http("GET", f"/schedules/{sch['id']}/status?at=2026-03-02T10:00:00%2B01:00")
    assert status == 200 and state["open"] is True
    status, state = await http("GET", f"/schedules/{sch['id']}/status?at=2026-03-07T10:00:00%2B01:00")
    assert state["open"] is False and state["next_opening"] == "2026-03-09T08:00:00+01:00"


async def test_kv_is_rebuilt_from_postgres_on_startup(http: Any, body: Any, world: Any, nats_js: Any,
                                                      kv_get: Any, until: Any, make_settings: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from services.campaigns.app import create_app

    u = world["u"]
    _, js = nats_js
    await http("POST", "/campaigns", body(), expect=201)
    await until(lambda: kv_get(f"cmp-{u}"))
    kv = await js.key_value("campaigns")
    await kv.purge(f"cmp-{u}")
    assert await kv_get(f"cmp-{u}") is None
    async with TestClient(TestServer(create_app(make_settings(conversation_consumer=False)))):
        assert (await kv_get(f"cmp-{u}"))["id"] == f"cmp-{u}"
