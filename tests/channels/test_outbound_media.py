"""Our own media (``blob:<sha>``, uploaded by an agent or kept in a campaign's gallery) sent for real per channel
type, against local provider peers: WhatsApp uploads the bytes to the number's media store and sends the id it
answers; Twilio (MMS) and Instagram fetch a signed, expiring link on channels' public port."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from aiohttp import web

from libs.contracts import MediaRef, OutboundMessage
from libs.messaging import publish
from services.channels.domain.media_links import link_key, media_link
from services.channels.keys import BLOBS, MEDIA_LINKS
from services.channels.settings import ChannelsSettings

PUBLIC = "https://hooks.example.test"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary, not text


def graph(request: web.Request, n: int) -> web.Response:
    if request.path.endswith("/media"):
        return web.json_response({"id": f"media-{n}"})
    if request.path.endswith("/messages") and "555000111" not in request.path:  # Instagram
        return web.json_response({"recipient_id": "5678", "message_id": f"mid.{n}"})
    return web.json_response({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.media.{n}"}]})


async def _stored(app: web.Application) -> MediaRef:
    ref = await app[BLOBS].put(PNG, mime_type="image/png", filename="foto.png")
    return MediaRef(kind="image", url=ref.url, mime_type="image/png", filename="foto.png")


async def test_whatsapp_uploads_our_media_and_sends_it_by_the_id_it_answers(make_app, make_peer, nats_js, streams,
                                                                          unique):
    peer = await make_peer(graph)
    async with make_app() as channels:
        cid = f"wam-{unique}"
        resp = await channels.post("/channels", json={"id": cid, "type": "whatsapp", "app_secret": "s",
                                                      "access_token": f"tok-{unique}",
                                                      "phone_number_id": "555000111", "base_url": peer.url})
        assert resp.status == 201, await resp.text()
        media = await _stored(channels.app)
        cmd = OutboundMessage(channel_id=cid, channel_type="whatsapp", to="+34600111222", text="Su factura",
                              media=[media], conversation_id="c-wa-media")
        await publish(nats_js[1], cmd)
        upload, send = await peer.wait_for(2)
        assert upload["path"] == "/v21.0/555000111/media"
        assert upload["headers"]["Authorization"] == f"Bearer tok-{unique}"
        assert upload["body"]["messaging_product"] == "whatsapp" and upload["body"]["type"] == "image/png"
        assert upload["body"]["file"] == {"filename": "foto.png", "content_type": "image/png", "data": PNG}
        assert send["path"] == "/v21.0/555000111/messages"
        assert send["body"]["type"] == "image" and send["body"]["image"] == {"id": "media-1", "caption": "Su factura"}
        [(_, st)] = await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{cid}")
        assert st["status"] == "sent" and st["provider_message_id"] == "wamid.media.2"


async def test_sms_and_instagram_fetch_a_signed_link_that_expires(make_app, make_peer, nats_js, streams, unique):
    twilio = await make_peer(lambda request, n: web.json_response({"sid": f"SM{unique}{n}"}, status=201))
    meta = await make_peer(graph)
    async with make_app(public_base_url=PUBLIC) as channels:
        sms, ig = f"smsm-{unique}", f"igm-{unique}"
        for body in ({"id": sms, "type": "sms", "account_sid": f"AC{unique}", "auth_token": "t",
                      "address": "+12028831111", "base_url": twilio.url},
                     {"id": ig, "type": "instagram", "app_secret": "s", "access_token": "igtok",
                      "address": "1234567890", "base_url": meta.url}):
            resp = await channels.post("/channels", json=body)
            assert resp.status == 201, await resp.text()
        media = await _stored(channels.app)
        await publish(nats_js[1], OutboundMessage(channel_id=sms, channel_type="sms", to="+14133881111",
                                                  text="Su foto", media=[media], conversation_id="c-sms-media"))
        await publish(nats_js[1], OutboundMessage(channel_id=ig, channel_type="instagram", to="5678",
                                                  media=[media], conversation_id="c-ig-media"))
        [mms] = await twilio.wait_for(1)
        [dm] = await meta.wait_for(1)
        links = [mms["body"]["MediaUrl"], dm["body"]["message"]["attachment"]["payload"]["url"]]
        assert dm["body"]["message"]["attachment"]["type"] == "image" and mms["body"]["Body"] == "Su foto"
        sha = media.url.removeprefix("blob:")
        for link in links:
            assert link.startswith(f"{PUBLIC}/media/{sha}?exp=")
            # What the provider fetches from the public port: the bytes, as the type the link names.
            path = link.removeprefix(PUBLIC)
            resp = await channels.public.get(path)
            assert resp.status == 200 and await resp.read() == PNG
            assert resp.headers["Content-Type"] == "image/png"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"

        # Anything but the exact signed link, and the link once expired, is 403 (naming the signature).
        query = urlsplit(links[0]).query
        forged = [f"/media/{sha}?{query[:-1]}{'0' if query[-1] != '0' else '1'}",  # another signature
                  f"/media/{'0' * 64}?{query}",  # another blob, the same signature
                  f"/media/{sha}?{query.replace('image%2Fpng', 'text%2Fhtml')}",  # another type
                  f"/media/{sha}", "/media/..%2F..%2Fetc%2Fpasswd?exp=1&type=a%2Fb&sig=x"]
        key = link_key(ChannelsSettings(env="test").secret_box().keys[0][1])
        expired = media_link(PUBLIC, key, sha, "image/png", time.time() - 7200, 3600).removeprefix(PUBLIC)
        assert (await channels.public.get(expired)).status == 403
        assert channels.app[MEDIA_LINKS].problem(sha, *_parts(expired)) == "expired media link"
        for path in forged:
            resp = await channels.public.get(path)
            assert resp.status in (403, 404), path
            if resp.status == 403:
                assert (await resp.json())["error"]["field"] == "sig"
        assert [(await channels.public.get(p)).status for p in forged[:3]] == [403, 403, 403]
        statuses = [m for _, m in await streams.wait_read("CONVERSATIONS", f"sb.conv.status.{sms}")]
        assert statuses[0]["status"] == "sent"


def _parts(path: str) -> tuple[str, str, str]:
    from urllib.parse import parse_qs
    q = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    return q["exp"], q["type"], q["sig"]


async def test_without_a_public_url_our_media_cannot_go_by_link(make_app, make_peer, nats_js, streams, unique):
    """Twilio cannot fetch our store: with no public URL the command is dead-lettered, naming the setting."""
    twilio = await make_peer(lambda request, n: web.json_response({"sid": f"SM{n}"}, status=201))
    async with make_app() as channels:
        sms = f"smsn-{unique}"
        resp = await channels.post("/channels", json={"id": sms, "type": "sms", "account_sid": f"AC{unique}",
                                                      "auth_token": "t", "address": "+12028831111",
                                                      "base_url": twilio.url})
        assert resp.status == 201
        cmd = OutboundMessage(channel_id=sms, channel_type="sms", to="+14133881111",
                              media=[await _stored(channels.app)], conversation_id="c-sms-nolink")
        await publish(nats_js[1], cmd)
        found = await streams.wait_read("DEADLETTER", "sb.dlq.OUTBOUND.channels-outbound", 1,
                                        where=lambda m: m.get("id") == cmd.id)
        assert "SB_CHANNELS_PUBLIC_BASE_URL" in found[0][0]["Sb-Dlq-Reason"]
        assert twilio.requests == []


def test_a_link_lives_as_long_as_media_link_ttl_s_and_rotated_keys_still_verify(tmp_path):
    from libs.storage.blobs import BlobStore
    from services.channels.adapters.blobs import MediaBlobs, MediaLinks

    sha, now = "a" * 64, [1_000_000.0]
    old, new = link_key(b"o" * 32), link_key(b"n" * 32)
    for ttl in (60, 600):
        signed_by_old = MediaLinks(MediaBlobs(BlobStore.folder(tmp_path)), [old], PUBLIC, ttl, clock=lambda: now[0])
        link = signed_by_old.url(MediaRef(url=f"blob:{sha}", mime_type="image/png"))
        exp, mime, sig = _parts(link)
        assert int(exp) == 1_000_000 + ttl and mime == "image/png"
        rotated = MediaLinks(signed_by_old.blobs, [new, old], PUBLIC, ttl, clock=lambda: now[0])
        assert rotated.problem(sha, exp, mime, sig) is None  # the new key signs, the old one still verifies
        assert MediaLinks(signed_by_old.blobs, [new], PUBLIC, ttl).problem(sha, exp, mime, sig) == (
            "bad media link signature")
        now[0] += ttl + 1
        assert rotated.problem(sha, exp, mime, sig) == "expired media link"
        now[0] = 1_000_000.0
    # A web link is passed as it is; only our own blobs are signed.
    assert signed_by_old.url(MediaRef(url="https://cdn.example.com/a.png")) == "https://cdn.example.com/a.png"
