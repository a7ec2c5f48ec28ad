"""Instagram messaging webhooks and sends: DMs, attachments, story mentions, comments; echoes not routed."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from aiohttp import web

from libs.contracts import OutboundMessage
from libs.messaging import publish

IG = Path("/work/shared/fixtures/providers/instagram")
SECRET = "ig-app-secret"


def sign(body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


@pytest.fixture
async def ig_channel(channels, graph_peer, unique):
    cid = f"ig-{unique}"
    resp = await channels.post("/channels", json={"id": cid, "type": "instagram", "app_secret": SECRET,
                                                  "verify_token": "vt", "access_token": f"igtok-{unique}",
                                                  "address": "1234567890", "base_url": graph_peer.url})
    assert resp.status == 201, await resp.text()
    return cid


async def _post(channels, cid, body: bytes, headers=None):
    return await channels.post(f"/webhooks/instagram/{cid}", data=body, headers=sign(body) if headers is None
                               else headers)


async def test_fixture_payloads_land_in_inbound_and_echo_does_not(channels, ig_channel, streams):
    for name in ("ig_dm_echo", "ig_dm_inbound_text"):
        resp = await _post(channels, ig_channel, (IG / f"{name}.courier.json").read_bytes())
        assert resp.status == 200, await resp.text()
    stored = await streams.read("INBOUND", f"sb.inbound.instagram.{ig_channel}")
    assert len(stored) == 1  # the echo "qT7ywaK" was not routed
    headers, msg = stored[0]
    assert headers["Nats-Msg-Id"] == f"in:{ig_channel}:external_id"
    assert msg["contact_address"] == "5678" and msg["text"] == "Hello World" and msg["kind"] == "message"
    assert msg["sent_at"].startswith("2016-04-07T01:11:27.970")


@pytest.mark.parametrize("name, kind, url", [("ig_dm_inbound_image_attachment", "image", "https://image-url/foo.png"),
                                             ("ig_dm_story_mention", "story_mention", "https://story-url")])
async def test_attachments_and_story_mentions_travel_as_references(channels, ig_channel, streams, name, kind, url):
    resp = await _post(channels, ig_channel, (IG / f"{name}.courier.json").read_bytes())
    assert resp.status == 200
    [(_, msg)] = await streams.read("INBOUND", f"sb.inbound.instagram.{ig_channel}")
    assert msg["media"][0]["kind"] == kind and msg["media"][0]["url"] == url
    assert (msg["extra"].get("story_mention") == "true") == (kind == "story_mention")


async def test_comments_are_inbound_items_marked_as_comments(channels, ig_channel, streams, unique):
    doc = {"object": "instagram", "entry": [{"id": "1234567890", "time": 1520383571, "changes": [
        {"field": "comments", "value": {"from": {"id": "232323232", "username": "test"},
                                        "media": {"id": "123123123", "media_product_type": "FEED"},
                                        "id": f"c-{unique}", "parent_id": "1231231234", "text": "Precio?"}},
        {"field": "comments", "value": {"from": {"id": "1234567890", "username": "us"}, "id": f"r-{unique}",
                                        "text": "our own reply"}},
    ]}]}
    resp = await _post(channels, ig_channel, json.dumps(doc).encode())
    assert resp.status == 200, await resp.text()
    [(_, msg)] = await streams.read("INBOUND", f"sb.inbound.instagram.{ig_channel}")
    assert msg["kind"] == "comment" and msg["provider_message_id"] == f"c-{unique}"
    assert msg["contact_address"] == "232323232" and msg["contact_name"] == "test" and msg["text"] == "Precio?"
    assert msg["reply_to"] == "1231231234" and msg["extra"]["media_id"] == "123123123"


async def test_reads_become_statuses_and_reactions_messages(channels, ig_channel, streams, unique):
    doc = {"object": "instagram", "entry": [{"id": "1", "messaging": [
        {"sender": {"id": "5678"}, "recipient": {"id": "1"}, "timestamp": 1700000000000, "read": {"mid": "m-1"}},
        {"sender": {"id": "5678"}, "recipient": {"id": "1"}, "timestamp": 1700000000001,
         "reaction": {"mid": "m-1", "action": "react", "emoji": "❤"}},
    ]}]}
    assert (await _post(channels, ig_channel, json.dumps(doc).encode())).status == 200
    [(_, st)] = await streams.read("CONVERSATIONS", f"sb.conv.status.{ig_channel}")
    assert st["status"] == "read" and st["provider_message_id"] == "m-1"
    [(_, msg)] = await streams.read("INBOUND", f"sb.inbound.instagram.{ig_channel}")
    assert msg["kind"] == "message" and msg["text"] == "❤" and msg["reply_to"] == "m-1"
    assert msg["extra"]["reaction_action"] == "react"


async def test_bad_input_is_refused_and_publishes_nothing(channels, ig_channel, streams):
    body = (IG / "ig_dm_inbound_text.courier.json").read_bytes()
    assert (await _post(channels, ig_channel, body, headers={})).status == 401
    bad = json.dumps({"object": "twitter", "entry": []}).encode()
    resp = await _post(channels, ig_channel, bad)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "object"
    # A bad event inside a good envelope is set aside (dead-lettered), not published.
    bad = json.dumps({"object": "instagram", "entry": [{"messaging": [{"message": {"mid": "x"}}]}]}).encode()
    resp = await _post(channels, ig_channel, bad)
    assert resp.status == 200 and (await resp.json())["rejected"] == 1
    assert await streams.count("INBOUND", f"sb.inbound.instagram.{ig_channel}") == 0
    q = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "42"}
    resp = await channels.get(f"/webhooks/instagram/{ig_channel}", params=q)
    assert resp.status == 200 and await resp.text() == "42"


async def test_outbound_goes_to_the_graph_messages_endpoint(channels, ig_channel, graph_peer, nats_js, streams,
                                                            unique):
    graph_peer.default = lambda request, n: web.json_response(
        {"recipient_id": "5678", "message_id": f"mid.{unique}.{n}"})
    cmd = OutboundMessage(channel_id=ig_channel, channel_type="instagram", to="5678", text="hola",
                          conversation_id="c1")
    await publish(nats_js[1], cmd)
    [req] = await graph_peer.wait_for(1)
    assert req["path"] == "/v21.0/1234567890/messages"
    assert req["headers"]["Authorization"] == f"Bearer igtok-{unique}"
    assert req["body"] == {"recipient": {"id": "5678"}, "message": {"text": "hola"}}
    [(_, st)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{ig_channel}")
    assert st["status"] == "sent" and st["provider_message_id"] == f"mid.{unique}.1"


# Meta's dashboard test events for the `messages` field, in the `changes[]` shape: one with `mid` and `timestamp`,
# and one with neither (both are sent by the dashboard's "Test" button, depending on the subscription).
TEST_MESSAGES = {"field": "messages", "value": {"sender": {"id": "12334"}, "recipient": {"id": "23245"},
                                                 "timestamp": "1527459824",
                                                 "message": {"mid": "random_mid", "text": "random_text"}}}
TEST_MESSAGES_BARE = {"field": "messages", "value": {"sender": {"id": "1234"}, "recipient": {"id": "5678"},
                                                      "message": {"text": "random_text"}}}


async def test_every_documented_shape_becomes_a_message_including_the_dashboard_tests(channels, ig_channel, streams,
                                                                                    unique):
    sender = {"sender": {"id": f"u-{unique}"}, "recipient": {"id": "1234567890"}, "timestamp": 1700000000000}
    changes = [
        TEST_MESSAGES, TEST_MESSAGES_BARE,
        {"field": "messaging_postbacks", "value": {**sender, "postback": {"mid": f"pb-{unique}", "title": "Sí",
                                                                          "payload": "YES"}}},
        {"field": "message_reactions", "value": {**sender, "reaction": {"mid": "m-9", "action": "react",
                                                                        "reaction": "love", "emoji": "❤️"}}},
        {"field": "messaging_referral", "value": {**sender, "referral": {"ref": "ad-7", "source": "ADS",
                                                                         "type": "OPEN_THREAD"}}},
        {"field": "messaging_seen", "value": {**sender, "read": {"mid": f"seen-{unique}"}}},
        {"field": "mentions", "value": {"media_id": f"med-{unique}", "comment_id": f"com-{unique}"}},
    ]
    doc = {"object": "instagram", "entry": [
        {"id": "1234567890", "time": 1700000000, "changes": changes},
        {"id": "1234567890", "time": 1700000000, "standby": [{**sender, "message": {"mid": f"sb-{unique}",
                                                                                      "text": "en espera"}}]},
    ]}
    resp = await _post(channels, ig_channel, json.dumps(doc).encode())
    body = await resp.json()
    assert resp.status == 200 and body["rejected"] == 0 and body["messages"] == 7, body
    got = [m for _, m in await streams.read("INBOUND", f"sb.inbound.instagram.{ig_channel}")]
    assert [(m["contact_address"], m["kind"], m["text"]) for m in got] == [
        ("12334", "message", "random_text"), ("1234", "message", "random_text"), (f"u-{unique}", "message", "Sí"),
        (f"u-{unique}", "message", "❤️"), (f"u-{unique}", "unsupported", None),
        (f"media:med-{unique}", "unsupported", None), (f"u-{unique}", "message", "en espera")]
    assert got[0]["provider_message_id"] == "random_mid" and got[1]["provider_message_id"].startswith("test:")
    assert got[4]["extra"]["referral_ref"] == "ad-7" and got[5]["extra"]["comment_id"] == f"com-{unique}"
    [(_, seen)] = await streams.read("CONVERSATIONS", f"sb.conv.status.{ig_channel}")
    assert seen["provider_message_id"] == f"seen-{unique}"
    # The dashboard's test button pressed again: the same test events, nothing new.
    resp = await _post(channels, ig_channel, json.dumps({"object": "instagram", "entry": [
        {"id": "0", "time": 1700000000, "changes": [TEST_MESSAGES_BARE]}]}).encode())
    assert (await resp.json())["duplicates"] == 1


async def test_a_signed_payload_not_understood_is_dead_lettered_with_its_reason(channels, ig_channel, streams, unique):
    doc = {"object": "instagram", "entry": [
        {"id": "1234567890", "time": 1700000000, "changes": [
            {"field": "story_insights", "value": {"media_id": f"st-{unique}", "impressions": 3}}]},
        {"id": f"empty-{unique}", "time": 1700000000},
        {"id": "1234567890", "messaging": [{"sender": {"id": "5"}, "recipient": {"id": "1"}, "read": {}}]},
    ]}
    resp = await _post(channels, ig_channel, json.dumps(doc).encode())
    body = await resp.json()
    assert resp.status == 200 and body["rejected"] == 3 and body["messages"] == 0, body
    letters = await streams.wait_read("DEADLETTER", "sb.dlq.INBOUND.channels-webhooks", 3,
                                      where=lambda d: d.get("channel_id") == ig_channel)
    reasons = sorted(h["Sb-Dlq-Reason"] for h, _ in letters)
    assert "'story_insights' is not a field this platform handles" in reasons[0]
    assert "nothing this platform understands" in reasons[1] and "read.mid" in reasons[2]
    assert sorted(d["path"] for _, d in letters) == ["entry[0].changes[0].field", "entry[1]",
                                                      "entry[2].messaging[0].read.mid"]
