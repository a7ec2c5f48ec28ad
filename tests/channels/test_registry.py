"""The channel registry API: validation naming the field, masked secrets, KV snapshots, demo seed."""

from __future__ import annotations

import asyncio
import json

from libs.core import demo
from services.channels.keys import REGISTRY


async def _kv(nats_js, key):
    kv = await nats_js[1].key_value("channels")
    try:
        entry = await kv.get(key)
    except Exception:
        return None
    return json.loads(entry.value) if entry.value else None


async def test_create_get_list_never_return_secrets(channels, nats_js, unique):
    body = {"id": f"wa-{unique}", "type": "whatsapp", "name": "Ventas", "address": "+34600000001",
            "app_secret": "s3cret-app", "verify_token": "vt", "access_token": "tok", "phone_number_id": "123"}
    resp = await channels.post("/channels", json=body)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["app_secret"] == "********" and created["access_token"] == "********"
    assert created["auth_token"] is None and created["phone_number_id"] == "123"
    for resp in (await channels.get(f"/channels/wa-{unique}"), await channels.get("/channels?type=whatsapp")):
        text = await resp.text()
        assert resp.status == 200 and "s3cret-app" not in text and "tok\"" not in text
    listed = await (await channels.get("/channels?type=whatsapp&limit=500")).json()
    assert f"wa-{unique}" in {c["id"] for c in listed["items"]}
    snap = await _kv(nats_js, f"wa-{unique}")
    assert snap["id"] == f"wa-{unique}" and snap["type"] == "whatsapp" and snap["name"] == "Ventas"
    assert "s3cret-app" not in json.dumps(snap)


async def test_update_keeps_masked_secrets_and_publishes_snapshot(channels, nats_js, unique):
    cid = f"ig-{unique}"
    assert (await channels.post("/channels", json={"id": cid, "type": "instagram", "app_secret": "a1"})).status == 201
    current = await (await channels.get(f"/channels/{cid}")).json()
    resp = await channels.put(f"/channels/{cid}", json={**{k: current[k] for k in ("app_secret", "name")},
                                                         "name": "Instagram Ventas", "active": False})
    assert resp.status == 200, await resp.text()
    updated = await resp.json()
    assert updated["name"] == "Instagram Ventas" and updated["active"] is False and updated["revision"] == 2
    snap = await _kv(nats_js, cid)
    assert snap["active"] is False and snap["name"] == "Instagram Ventas"
    # the masked secret sent back kept the real one
    assert channels.app[REGISTRY].cached(cid).secret("app_secret") == "a1"


async def test_delete_removes_row_and_snapshot(channels, nats_js, unique):
    cid = f"sms-{unique}"
    resp = await channels.post("/channels", json={"id": cid, "type": "sms", "account_sid": "AC1", "auth_token": "t"})
    assert resp.status == 201
    assert (await channels.delete(f"/channels/{cid}")).status == 204
    assert (await channels.get(f"/channels/{cid}")).status == 404
    assert (await channels.delete(f"/channels/{cid}")).status == 404
    assert await _kv(nats_js, cid) is None


async def _error(resp, status):
    assert resp.status == status, await resp.text()
    return (await resp.json())["error"]


async def test_bad_bodies_name_the_field_and_write_nothing(channels, nats_js, unique):
    cases = [
        ({"type": "fax"}, "type"),
        ({"id": "has.dot", "type": "whatsapp", "app_secret": "x"}, "id"),
        ({"id": f"w-{unique}", "type": "whatsapp"}, "app_secret"),
        ({"id": f"s-{unique}", "type": "sms", "auth_token": "x"}, "account_sid"),
        ({"id": f"e-{unique}", "type": "email", "address": "not-an-email"}, "address"),
        ({"id": f"v-{unique}", "type": "voice", "app_secret": "x", "config": {"endpoint_template": "SIP/x"}},
         "config.endpoint_template"),
        ({"id": f"x-{unique}", "type": "whatsapp", "app_secret": "x", "colour": "red"}, "colour"),
        ({"id": f"b-{unique}", "type": "whatsapp", "app_secret": "x", "base_url": "ftp://x"}, "base_url"),
    ]
    for body, field in cases:
        err = await _error(await channels.post("/channels", json=body), 400)
        assert err["field"] == field, (body, err)
        if body.get("id"):
            assert (await channels.get(f"/channels/{body['id']}")).status == 404
            assert await _kv(nats_js, body["id"]) is None
    err = await _error(await channels.post("/channels", data=b"{nope", headers={"Content-Type": "application/json"}),
                       400)
    assert err["field"] == "body"


async def test_conflicts_and_bad_updates(channels, unique):
    cid = f"wa-{unique}"
    body = {"id": cid, "type": "whatsapp", "app_secret": "x"}
    assert (await channels.post("/channels", json=body)).status == 201
    err = await _error(await channels.post("/channels", json=body), 409)
    assert err["field"] == "id"
    err = await _error(await channels.put(f"/channels/{cid}", json={"app_secret": ""}), 400)
    assert err["field"] == "app_secret"
    err = await _error(await channels.put(f"/channels/{cid}", json={"name": None}), 400)
    assert err["field"] == "name"
    assert (await channels.put(f"/channels/nope-{unique}", json={"name": "x"})).status == 404
    current = await (await channels.get(f"/channels/{cid}")).json()
    assert current["revision"] == 1 and current["app_secret"] == "********"
    addr = f"care-{unique}@example.com"
    resp = await channels.post("/channels", json={"id": f"m1-{unique}", "type": "email", "address": addr})
    assert resp.status == 201
    err = await _error(await channels.post("/channels", json={"id": f"m2-{unique}", "type": "email",
                                                                "address": addr.upper()}), 409)
    assert err["field"] == "address"


async def test_demo_seed_is_idempotent(make_app, nats_js):
    for _ in range(2):
        async with make_app(demo_seed=True, outbound_consumer=False) as client:
            resp = await client.get(f"/channels/{demo.WHATSAPP_CHANNEL_ID}")
            assert resp.status == 200
            ch = await resp.json()
            assert ch["phone_number_id"] == demo.WHATSAPP_PHONE_NUMBER_ID and ch["app_secret"] == "********"
    snap = await _kv(nats_js, demo.WHATSAPP_CHANNEL_ID)
    assert snap["type"] == "whatsapp"


async def _eventually(check, tries: int = 200) -> bool:
    for _ in range(tries):
        if check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_change_made_by_another_replica_reaches_this_cache(channels, make_app, unique):
    registry = channels.app[REGISTRY]
    cid = f"wa-{unique}"
    async with make_app(outbound_consumer=False) as other:
        resp = await other.post("/channels", json={"id": cid, "type": "whatsapp", "app_secret": "one"})
        assert resp.status == 201
        assert await _eventually(lambda: registry.cached(cid) is not None)
        assert registry.cached(cid).secret("app_secret") == "one"
        assert (await other.put(f"/channels/{cid}", json={"app_secret": "two"})).status == 200
        assert await _eventually(lambda: registry.cached(cid).secret("app_secret") == "two")
        assert (await other.delete(f"/channels/{cid}")).status == 204
        assert await _eventually(lambda: registry.cached(cid) is None)


async def test_a_channel_in_use_is_not_deleted(channels, nats_js, router_peer, unique):
    """Issue 13 item 12: a channel an active campaign uses, or with conversations still open on it, stays; the 409
    names them and nothing is deleted."""
    import asyncio

    from libs.contracts import CampaignSnapshot

    cid = f"wa-use-{unique}"
    resp = await channels.post("/channels", json={"id": cid, "type": "whatsapp", "app_secret": "s"})
    assert resp.status == 201
    kv = await nats_js[1].key_value("campaigns")
    snap = CampaignSnapshot(id=f"use-{unique}", name="Ventas", channels=[{"id": cid, "type": "whatsapp"}])  # type: ignore[list-item]
    await kv.put(snap.id, snap.model_dump_json().encode())
    usage = channels.app[REGISTRY].usage
    assert usage is not None
    for _ in range(200):  # until the service's watcher has the campaign (a delete before it would succeed)
        if usage.campaigns_using(cid):
            break
        await asyncio.sleep(0.05)
    err = await (await channels.delete(f"/channels/{cid}")).json()
    assert err["error"]["code"] == "conflict", err
    assert err["error"]["field"] == "channel_id" and f"'Ventas' ({snap.id})" in err["error"]["message"]
    assert err["error"]["details"]["campaigns"] == [snap.id]
    # Paused, the campaign no longer needs it; a conversation still open on it does.
    paused = snap.model_copy(update={"status": "paused", "version": 2})
    await kv.put(snap.id, paused.model_dump_json().encode())
    router_peer.open[cid] = [f"conv-{unique}"]
    for _ in range(100):
        err = await (await channels.delete(f"/channels/{cid}")).json()
        if not err["error"]["details"]["campaigns"]:
            break
        await asyncio.sleep(0.05)
    assert err["error"]["details"] == {"campaigns": [], "open_conversations": 1, "conversations": [f"conv-{unique}"]}
    assert "1 conversation(s) are open on it" in err["error"]["message"]
    assert (await channels.get(f"/channels/{cid}")).status == 200
    # Closed (or moved) by a supervisor: now it goes.
    router_peer.open.pop(cid)
    assert (await channels.delete(f"/channels/{cid}")).status == 204
    assert await _kv(nats_js, cid) is None
    assert set(router_peer.callers) == {"service:channels"}  # asked as itself, never anonymously
