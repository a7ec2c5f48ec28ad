"""A signed Meta batch (WhatsApp or Instagram: several entries, changes and messages) with malformed items: the
valid items are published, each bad item goes to the DEADLETTER stream with its reason (the headers of
run_consumer's dead letters), and the answer is 200. A provider's retry stores nothing twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.messaging import nats_session
from services.channels.app import create_app
from services.channels.settings import ChannelsSettings

from ..channels.conftest import ChannelsClient

SECRET = "batch-app-secret"
DLQ_SUBJECT = "sb.dlq.INBOUND.channels-webhooks"


@pytest.fixture(scope="module")
async def app_client(stack: Any):
    settings = ChannelsSettings(
        nats_url=stack.nats_url, redis_url=stack.redis_url, database_url=stack.database_url, env="test",
        smtp_enabled=False, outbound_consumer=False, graph_base_url="http://127.0.0.1:9",
        twilio_base_url="http://127.0.0.1:9", ari_base_url="http://127.0.0.1:9",
        blob_dir=Path(tempfile.mkdtemp(prefix="sb-batch-blobs-")))
    async with ChannelsClient(create_app(settings)) as client:  # webhooks public, /channels on the admin port
        yield client


@pytest.fixture(scope="module")
async def js(stack: Any):
    async with nats_session(stack.nats_url, "partial-batch-tests") as (_, jsc):
        yield jsc


async def _read(js: Any, stream: str, subject: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    info = await js.stream_info(stream, subjects_filter=subject)
    n = sum((info.state.subjects or {}).values())
    if not n:
        return []
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True,
                             config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    out = []
    try:
        for _ in range(n):
            m = await sub.next_msg(timeout=5)
            out.append((dict(m.headers or {}), json.loads(m.data)))
    finally:
        await sub.unsubscribe()
    return out


async def _dead(js: Any, cid: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    return [(h, d) for h, d in await _read(js, "DEADLETTER", DLQ_SUBJECT) if d.get("channel_id") == cid]


async def _channel(client: TestClient, kind: str) -> str:
    cid = f"batch-{kind}-{uuid.uuid4().hex[:8]}"
    resp = await client.post("/channels", json={"id": cid, "type": kind, "app_secret": SECRET, "verify_token": "v",
                                                "access_token": "t", "address": "1234567890"})
    assert resp.status == 201, await resp.text()
    return cid


async def _post(client: TestClient, kind: str, cid: str, payload: Any, signed: bool = True) -> Any:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return await client.post(f"/webhooks/{kind}/{cid}", data=body, headers=headers)


def _wa_message(mid: str, text: str = "hola", **over: Any) -> dict[str, Any]:
    return {"from": "34600111222", "id": mid, "timestamp": "1700000000", "type": "text", "text": {"body": text},
            **over}


def _wa_batch(tag: str) -> dict[str, Any]:
    def change(messages: list[Any], statuses: list[Any] | None = None) -> dict[str, Any]:
        return {"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": "1234567890"},
            "contacts": [{"wa_id": "34600111222", "profile": {"name": "Ana"}}],
            "messages": messages, "statuses": statuses or []}}

    no_id = _wa_message("")
    no_id.pop("id")
    return {"object": "whatsapp_business_account", "entry": [
        {"id": "1", "changes": [
            change([_wa_message(f"wamid.{tag}.1"), no_id, _wa_message(f"wamid.{tag}.2")],
                   [{"id": f"wamid.out.{tag}", "status": "delivered", "timestamp": "1700000001"},
                    {"status": "read"}]),
            change([_wa_message(f"wamid.{tag}.3", timestamp="99999999999999999")]),
        ]},
        {"id": "2", "changes": [
            change([_wa_message(f"wamid.{tag}.4", text="nul \u0000 inside"), _wa_message(f"wamid.{tag}.5")]),
            {"field": "messages", "value": {"messages": "not a list"}},
        ]},
        "not an entry",
    ]}


async def test_whatsapp_batch_publishes_the_good_items_and_dead_letters_each_bad_one(app_client, js):
    cid = await _channel(app_client, "whatsapp")
    payload = _wa_batch(cid)
    resp = await _post(app_client, "whatsapp", cid, payload)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"status": "accepted", "messages": 3, "statuses": 1, "duplicates": 0,
                                 "rejected": 6}
    inbound = await _read(js, "INBOUND", f"sb.inbound.whatsapp.{cid}")
    assert [m["provider_message_id"] for _, m in inbound] == [f"wamid.{cid}.{n}" for n in (1, 2, 5)]
    dead = await _dead(js, cid)
    reasons = {d["path"]: h["Sb-Dlq-Reason"] for h, d in dead}
    assert reasons == {
        "entry[0].changes[0].value.messages[1].id": "entry[0].changes[0].value.messages[1].id: Field required",
        "entry[0].changes[0].value.statuses[1].id": "entry[0].changes[0].value.statuses[1].id: Field required",
        "entry[0].changes[1].value.messages[0].timestamp": (
            "entry[0].changes[1].value.messages[0].timestamp: timestamp '99999999999999999' is out of range"),
        "entry[1].changes[0].value.messages[0].text": (
            "entry[1].changes[0].value.messages[0].text contains a NUL character"),
        "entry[1].changes[1].value.messages": (
            "entry[1].changes[1].value.messages: Input should be a valid list"),
        "entry[2]": "entry[2]: a JSON object is expected",
    }
    for headers, data in dead:
        assert headers["Sb-Dlq-Subject"] == f"sb.inbound.whatsapp.{cid}"
        assert headers["Sb-Dlq-Stream"] == "INBOUND" and headers["Sb-Dlq-Consumer"] == "channels-webhooks"
        assert headers["Sb-Dlq-Deliveries"] == "1" and headers["Nats-Msg-Id"].startswith(f"dlq:webhook:{cid}:")
        assert data["channel_type"] == "whatsapp"
    by_path = {d["path"]: d["item"] for _, d in dead}
    assert by_path["entry[2]"] == "not an entry"
    assert by_path["entry[1].changes[0].value.messages[0].text"]["text"]["body"] == "nul \u0000 inside"
    # Meta retries the whole POST: nothing is published or dead-lettered twice.
    assert (await _post(app_client, "whatsapp", cid, payload)).status == 200
    assert len(await _read(js, "INBOUND", f"sb.inbound.whatsapp.{cid}")) == 3
    assert len(await _dead(js, cid)) == 6
    # Operators read them back through the admin API, filtered by channel.
    resp = await app_client.get("/dead-letters", params={"consumer": "channels-webhooks", "channel_id": cid})
    assert resp.status == 200, await resp.text()
    listed = (await resp.json())["items"]
    assert {i["reason"] for i in listed} == set(reasons.values())


async def test_instagram_batch_keeps_the_good_events(app_client, js):
    cid = await _channel(app_client, "instagram")
    payload = {"object": "instagram", "entry": [{"id": "1234567890", "time": 1700000000, "messaging": [
        {"sender": {"id": "111"}, "recipient": {"id": "1234567890"}, "timestamp": 1700000000,
         "message": {"mid": f"mid.{cid}.1", "text": "hola"}},
        {"recipient": {"id": "1234567890"}, "message": {"mid": f"mid.{cid}.2", "text": "no sender"}},
        {"sender": {"id": "222"}, "timestamp": 1700000001, "message": {"mid": f"mid.{cid}.3", "text": "\ud800"}},
    ], "changes": [
        {"field": "comments", "value": {"id": f"c.{cid}", "text": "nice", "from": {"id": "333", "username": "x"}}},
        {"field": "comments", "value": {"text": "no id", "from": {"id": "444"}}},
    ]}]}
    resp = await _post(app_client, "instagram", cid, payload)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["rejected"] == 3
    inbound = await _read(js, "INBOUND", f"sb.inbound.instagram.{cid}")
    assert [m["provider_message_id"] for _, m in inbound] == [f"mid.{cid}.1", f"c.{cid}"]
    assert {d["path"] for _, d in await _dead(js, cid)} == {
        "entry[0].messaging[1].sender", "entry[0].messaging[2].text", "entry[0].changes[1].value.id"}


async def test_a_bad_envelope_is_refused_whole_and_kept(app_client, js):
    cid = await _channel(app_client, "whatsapp")
    resp = await _post(app_client, "whatsapp", cid, {"object": "page", "entry": [_wa_message("x")]})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "object"
    [(headers, data)] = await _dead(js, cid)
    assert data["path"] == "object" and data["item"]["object"] == "page"
    assert "object" in headers["Sb-Dlq-Reason"]
    assert await _read(js, "INBOUND", f"sb.inbound.whatsapp.{cid}") == []


async def test_an_unsigned_batch_is_refused_and_stores_nothing(app_client, js):
    cid = await _channel(app_client, "whatsapp")
    resp = await _post(app_client, "whatsapp", cid, _wa_batch(cid), signed=False)
    assert resp.status == 401
    assert await _dead(js, cid) == [] and await _read(js, "INBOUND", f"sb.inbound.whatsapp.{cid}") == []
