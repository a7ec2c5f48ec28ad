"""A reply's media uploaded through the gateway (``POST /api/v1/conversations/{id}/media``) against the real router
and CRM: the agent who holds the conversation, a supervisor of its campaign; nobody else; only when the campaign
allows media; bounded in size and type. The reply then carries the ``blob:`` reference to channels' outbound."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import aiohttp

from libs.core.auth import Signer
from libs.core.settings import ServiceSettings
from services.crm.keys import BLOBS

from .conftest import bearer
from .routed_kit import Routed, eventually

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def form(data: bytes = PNG, filename: str = "foto.png", content_type: str = "image/png") -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("file", data, filename=filename, content_type=content_type)
    return f


async def upload(routed: Routed, token: str, conv_id: str, body: Any, status: int) -> dict[str, Any]:
    resp = await routed.gw.post(f"/api/v1/conversations/{conv_id}/media", data=body, headers=bearer(token))
    answer = await resp.json()
    assert resp.status == status, answer
    return answer


async def _held(routed: Routed, unique: str, **options: Any) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """A campaign (two agents, a supervisor) and a conversation held by its first agent, known to the CRM too."""
    agent, a_token = await routed.user("agent", unique)
    other, o_token = await routed.user("agent", unique)
    sup, s_token = await routed.user("supervisor", unique)
    snap = await routed.campaign(unique, agents=[agent, other], supervisors=[sup], **options)
    await routed.available(a_token)
    await routed.write_in(snap, "+34600200001")
    conv = await routed.assigned_to(a_token, "+34600200001")

    async def in_crm() -> bool:
        resp = await routed.gw.get(f"/api/v1/cases/{conv['id']}", headers=bearer(a_token))
        await resp.read()
        return resp.status == 200

    await eventually(in_crm, "the CRM keeps the conversation")
    return snap, conv, {"agent": a_token, "other": o_token, "sup": s_token, "agent_id": agent, "other_id": other}


async def test_the_holder_uploads_a_file_and_the_reply_carries_it_to_channels(routed, real_crm, unique):
    snap, conv, t = await _held(routed, unique)
    sha = hashlib.sha256(PNG).hexdigest()
    ref = await upload(routed, t["agent"], conv["id"], form(), 201)
    assert ref == {"kind": "image", "url": f"blob:{sha}", "mime_type": "image/png", "filename": "foto.png",
                   "size": len(PNG)}
    # Where channels reads blob: media from (the shared store's media/<sha[:2]>/<sha>).
    assert await real_crm.app[BLOBS].get(f"media/{sha[:2]}/{sha}") == PNG
    # A supervisor of the campaign may too (replying on the agent's behalf); the other agent may not.
    assert (await upload(routed, t["sup"], conv["id"], form(filename="b.png"), 201))["url"] == f"blob:{sha}"
    err = await upload(routed, t["other"], conv["id"], form(), 404)
    assert err["error"]["field"] in ("id", "conversation_id")

    sent: list[dict[str, Any]] = []

    async def got(msg: Any) -> None:
        sent.append(json.loads(msg.data))

    sub = await routed.nc.subscribe(f"sb.outbound.whatsapp.{snap.channels[0].id}.>", cb=got)
    await routed.nc.flush()
    try:
        media = {k: ref[k] for k in ("kind", "url", "mime_type", "filename")}
        await routed.call(t["agent"], "POST", f"/conversations/{conv['id']}/messages",
                          {"text": "Su foto", "media": [media]}, status=201)
        await eventually(lambda: sent, "the reply on OUTBOUND")
    finally:
        await sub.unsubscribe()
    assert sent[0]["media"][0]["url"] == f"blob:{sha}" and sent[0]["media"][0]["mime_type"] == "image/png"
    assert sent[0]["text"] == "Su foto" and sent[0]["conversation_id"] == conv["id"]
    # Only our own blobs or web links: anything else in a reply's media is refused by name.
    err = await routed.call(t["agent"], "POST", f"/conversations/{conv['id']}/messages",
                            {"media": [{"kind": "image", "url": "blob:../../etc/passwd"}]}, status=400)
    assert err["error"]["field"].startswith("media")


async def test_size_type_and_form_are_bounded_naming_the_field(routed, real_crm, unique):
    _, conv, t = await _held(routed, unique)
    big = b"\0" * (16 * 1024 * 1024 + 1)
    err = await upload(routed, t["agent"], conv["id"], form(big, "video.mp4", "video/mp4"), 413)
    assert err["error"]["field"] == "file"
    err = await upload(routed, t["agent"], conv["id"], form(b"<script>", "x.html", "text/html"), 415)
    assert err["error"]["field"] == "file" and "text/html" in err["error"]["message"]
    err = await upload(routed, t["agent"], conv["id"], form(b"", "vacio.pdf", "application/pdf"), 400)
    assert err["error"]["field"] == "file"
    resp = await routed.gw.post(f"/api/v1/conversations/{conv['id']}/media", json={"url": "x"},
                                headers=bearer(t["agent"]))
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "file"


async def test_a_campaign_without_media_refuses_uploads_at_the_gateway_and_in_the_crm(routed, real_crm, unique):
    snap, conv, t = await _held(routed, unique, permissions={"media": False})
    err = await upload(routed, t["agent"], conv["id"], form(), 403)
    assert err["error"]["field"] == "media"
    # Straight to the CRM with the token the gateway would sign: refused there too.
    token = Signer.from_settings(ServiceSettings(env="test"), "gateway").for_user(
        "crm", t["agent_id"], "agent", [snap.id])
    crm = str(real_crm.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{crm}/conversations/{conv['id']}/media", data=form(), headers=bearer(token))
        assert resp.status == 403 and (await resp.json())["error"]["field"] == "media"
    # The other agent is refused in the CRM as well (not theirs), whatever the campaign allows.
    token = Signer.from_settings(ServiceSettings(env="test"), "gateway").for_user(
        "crm", t["other_id"], "agent", [snap.id])
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{crm}/conversations/{conv['id']}/media", data=form(), headers=bearer(token))
        assert resp.status in (403, 404)
    # On: the same upload goes through.
    await routed.change(snap, permissions={"media": True})

    async def allowed() -> bool:
        resp = await routed.gw.post(f"/api/v1/conversations/{conv['id']}/media", data=form(),
                                    headers=bearer(t["agent"]))
        await resp.read()
        return resp.status == 201

    await eventually(allowed, "the CRM sees the campaign allow media")


async def _download(routed: Routed, token: str, conv_id: str, sha: str) -> tuple[int, Any, bytes]:
    resp = await routed.gw.get(f"/api/v1/conversations/{conv_id}/media/{sha}", headers=bearer(token))
    return resp.status, resp.headers, await resp.read()


async def test_a_file_the_conversation_carries_downloads_for_who_may_read_it_and_nothing_else(routed, real_crm,
                                                                                            unique):
    """``GET /conversations/{id}/media/{sha}``: the holder and the campaign's supervisor get the bytes with the
    file's type, as an attachment with its (UTF-8) name, sandboxed; another agent is refused at the gateway and in
    the CRM; a file kept in the store that no message of the conversation carries is 404; a bad hash 400 (sha)."""
    snap, conv, t = await _held(routed, unique)
    sha = hashlib.sha256(PNG).hexdigest()
    named = aiohttp.FormData(quote_fields=False)  # the name as browsers send it: UTF-8 in quotes
    named.add_field("file", PNG, filename="foto año.png", content_type="image/png")
    ref = await upload(routed, t["agent"], conv["id"], named, 201)
    assert ref["filename"] == "foto año.png"
    # Uploaded but never sent: kept in the shared store, yet no message of the conversation carries it.
    stray = PNG + b"otro"
    stray_sha = hashlib.sha256(stray).hexdigest()
    assert (await upload(routed, t["agent"], conv["id"], form(stray, "otra.png"), 201))["url"] == f"blob:{stray_sha}"
    media = {k: ref[k] for k in ("kind", "url", "mime_type", "filename")}
    await routed.call(t["agent"], "POST", f"/conversations/{conv['id']}/messages", {"text": "Foto", "media": [media]},
                      status=201)

    async def stored() -> bool:  # the CRM keeps the reply once the router's event arrives
        return (await _download(routed, t["agent"], conv["id"], sha))[0] == 200

    await eventually(stored, "the CRM keeps the reply with its file")
    for who in ("agent", "sup"):
        status, headers, body = await _download(routed, t[who], conv["id"], sha)
        assert status == 200 and body == PNG, who
        assert headers["Content-Type"] == "image/png"
        assert headers["Content-Disposition"] == ("attachment; filename=\"foto a_o.png\"; "
                                                  "filename*=UTF-8''foto%20a%C3%B1o.png")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox; frame-ancestors 'none'"
    # Another agent of the campaign: not theirs (404 at the gateway).
    status, _, body = await _download(routed, t["other"], conv["id"], sha)
    assert status == 404 and b"not found" in body
    # Any other hash, even of a file the store keeps: not a file of this conversation.
    for digest in (stray_sha, "0" * 64):
        status, _, body = await _download(routed, t["agent"], conv["id"], digest)
        assert status == 404 and json.loads(body)["error"]["field"] == "sha", digest
    for bad in ("abc", sha.upper(), sha + "0", f"{sha[:63]}g"):
        status, _, body = await _download(routed, t["agent"], conv["id"], bad)
        assert status == 400 and json.loads(body)["error"]["field"] == "sha", bad

    # Straight to the CRM with the tokens the gateway would sign: the same rules hold there.
    crm = str(real_crm.make_url("")).rstrip("/")
    signer = Signer.from_settings(ServiceSettings(env="test"), "gateway")
    async with aiohttp.ClientSession() as http:
        async def direct(user: str, digest: str) -> tuple[int, bytes]:
            token = signer.for_user("crm", user, "agent", [snap.id])
            async with http.get(f"{crm}/conversations/{conv['id']}/media/{digest}", headers=bearer(token)) as resp:
                return resp.status, await resp.read()

        assert await direct(t["agent_id"], sha) == (200, PNG)
        assert (await direct(t["other_id"], sha))[0] == 404
        assert (await direct(t["agent_id"], stray_sha))[0] == 404
        assert (await direct(t["agent_id"], "../x"))[0] in (400, 404)
        assert (await direct(t["agent_id"], "abc"))[0] == 400
