"""Admins list, read and replay every service's dead letters through the gateway; each replay is audited."""

from __future__ import annotations

import asyncio

from libs.contracts import InboundMessage
from libs.core.errors import Invalid
from libs.messaging import publish, run_consumer

from .conftest import bearer


async def _dead_letter(js, unique: str, fixed: asyncio.Event, handled: list[str], stop: asyncio.Event,
                       durable: str) -> asyncio.Task:
    async def handler(event):
        if not fixed.is_set():
            raise Invalid(f"refused by test {unique}", field="text")
        handled.append(event.provider_message_id)

    return asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, handler=handler, stop=stop,
                                            filter_subject=f"sb.inbound.whatsapp.gw-{unique}"))


async def test_admin_lists_filters_reads_and_replays_with_an_audit(gw_client, nats_js, make_user, login_as, unique):
    _, js = nats_js
    admin = await make_user("admin")
    auth = bearer(await login_as(admin))
    durable = f"t-gw-dlq-{unique}"
    fixed, stop, handled = asyncio.Event(), asyncio.Event(), []
    task = await _dead_letter(js, unique, fixed, handled, stop, durable)
    try:
        for n in range(2):
            await publish(js, InboundMessage(channel_id=f"gw-{unique}", channel_type="whatsapp",
                                             contact_address="+34600000011", provider_message_id=f"gw.{unique}.{n}"))
        items: list = []
        for _ in range(100):
            r = await gw_client.get(f"/api/v1/dead-letters?consumer={durable}", headers=auth)
            assert r.status == 200, await r.text()
            items = (await r.json())["items"]
            if len(items) == 2:
                break
            await asyncio.sleep(0.1)
        assert [i["stream"] for i in items] == ["INBOUND", "INBOUND"]
        assert items[0]["sequence"] > items[1]["sequence"]  # newest first
        assert all(f"refused by test {unique}" in i["reason"] and i["replays"] == 0 for i in items)
        # Filters and paging
        r = await gw_client.get(f"/api/v1/dead-letters?consumer={durable}&limit=1", headers=auth)
        page = await r.json()
        assert len(page["items"]) == 1 and page["next_cursor"] == str(items[0]["sequence"])
        r = await gw_client.get(f"/api/v1/dead-letters?consumer={durable}&limit=1&cursor={page['next_cursor']}",
                                headers=auth)
        assert [i["sequence"] for i in (await r.json())["items"]] == [items[1]["sequence"]]
        r = await gw_client.get(f"/api/v1/dead-letters?stream=INBOUND&reason=REFUSED+BY+TEST+{unique}", headers=auth)
        assert {i["sequence"] for i in (await r.json())["items"]} == {i["sequence"] for i in items}
        r = await gw_client.get(f"/api/v1/dead-letters?stream=OUTBOUND&consumer={durable}", headers=auth)
        assert (await r.json())["items"] == []
        r = await gw_client.get("/api/v1/dead-letters?stream=IN%20BOUND", headers=auth)
        assert r.status == 400 and (await r.json())["error"]["field"] == "stream"
        # The payload
        r = await gw_client.get(f"/api/v1/dead-letters/{items[1]['sequence']}", headers=auth)
        one = await r.json()
        assert one["payload"]["provider_message_id"] == f"gw.{unique}.0" and one["replays"] == []
        r = await gw_client.get("/api/v1/dead-letters/999999999", headers=auth)
        assert r.status == 404

        fixed.set()
        seqs = [i["sequence"] for i in items]
        r = await gw_client.post("/api/v1/dead-letters/replay", json={"sequences": [*seqs, 999999999]},
                                 headers=auth)
        assert r.status == 207, await r.text()
        results = (await r.json())["results"]
        assert [x["ok"] for x in results] == [True, True, False]
        assert "no dead letter 999999999" in results[2]["error"]
        assert all(x["actor"] == admin and x["via"] == "api" and not x["duplicate"] for x in results[:2])
        for _ in range(100):
            if len(handled) == 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(handled) == [f"gw.{unique}.0", f"gw.{unique}.1"]
        r = await gw_client.post("/api/v1/dead-letters/replay", json={"sequences": seqs[:1]}, headers=auth)
        assert r.status == 200 and (await r.json())["results"][0]["duplicate"] is True
        await asyncio.sleep(1)
        assert len(handled) == 2, "a replay is delivered once"
        r = await gw_client.get(f"/api/v1/dead-letters/replays?sequence={seqs[0]}", headers=auth)
        audit = (await r.json())["items"]
        assert [(a["actor"], a["duplicate"]) for a in audit] == [(admin, True), (admin, False)]
        r = await gw_client.get(f"/api/v1/dead-letters?consumer={durable}", headers=auth)
        assert [i["replays"] for i in (await r.json())["items"]] == [1, 1]
        r = await gw_client.post("/api/v1/dead-letters/replay", json={"sequences": []}, headers=auth)
        assert r.status == 400 and (await r.json())["error"]["field"] == "sequences"
    finally:
        stop.set()
        await task


async def test_only_admins_reach_dead_letters(gw_client, make_user, login_as):
    for role in ("supervisor", "agent"):
        auth = bearer(await login_as(await make_user(role)))
        for method, path, body in (("GET", "/api/v1/dead-letters", None), ("GET", "/api/v1/dead-letters/1", None),
                                   ("GET", "/api/v1/dead-letters/replays", None),
                                   ("POST", "/api/v1/dead-letters/replay", {"sequences": [1]})):
            r = await gw_client.request(method, path, json=body, headers=auth)
            assert r.status == 403, (role, path, await r.text())
    r = await gw_client.get("/api/v1/dead-letters")
    assert r.status == 401
