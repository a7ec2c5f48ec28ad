"""Seed 004 "Galería de recursos" through the gateway and the real CRM: admins keep a campaign's files and quick
replies; its agents read them (a file with the media reference a reply carries); nobody else does."""

from __future__ import annotations

import hashlib

import aiohttp

from services.crm.keys import BLOBS

from .conftest import bearer
from .options_kit import make_options
from .test_crm_facade import call


async def test_gallery_files_and_quick_replies(crm_gw, real_crm, make_user, nats_js, unique, services_peer):
    opts = await make_options(crm_gw, real_crm, make_user, nats_js, unique, services_peer)
    o = opts.office
    admin, a1, sup = o.tokens["admin"], o.tokens["a1"], o.tokens["sup"]
    reply = await call(crm_gw, admin, "POST", "/resources", {"campaign_id": o.camp, "name": "Saludo",
                                                             "text": "¡Hola! Gracias por escribirnos."}, status=201)
    err = await call(crm_gw, admin, "POST", "/resources", {"campaign_id": o.camp, "name": "saludo", "text": "x"},
                     status=409)
    assert err["error"]["field"] == "name"
    await call(crm_gw, a1, "POST", "/resources", {"campaign_id": o.camp, "name": "Mío", "text": "x"}, status=403)
    pdf = b"%PDF-1.4 tarifas 2031"
    form = aiohttp.FormData()
    form.add_field("file", pdf, filename="tarifas.pdf", content_type="application/pdf")
    resp = await crm_gw.post(f"/api/v1/resources/file?campaign_id={o.camp}&name=Tarifas", data=form,
                             headers=bearer(admin))
    made = await resp.json()
    assert resp.status == 201, made
    sha = hashlib.sha256(pdf).hexdigest()
    assert made["media"] == {"kind": "file", "url": f"blob:{sha}", "mime_type": "application/pdf",
                             "filename": "tarifas.pdf"}

    gallery = await call(crm_gw, a1, "GET", f"/resources?campaign_id={o.camp}")
    assert [(r["kind"], r["name"]) for r in gallery["items"]] == [("file", "Tarifas"), ("quick_reply", "Saludo")]
    only = await call(crm_gw, sup, "GET", f"/resources?campaign_id={o.camp}&kind=quick_reply")
    assert [r["id"] for r in only["items"]] == [reply["id"]]
    resp = await crm_gw.get(f"/api/v1/resources/{made['id']}/file", headers=bearer(a1))
    assert resp.status == 200 and await resp.read() == pdf
    # The file is where channels reads blob references from (the shared store's media/<sha[:2]>/<sha>).
    assert await real_crm.app[BLOBS].get(f"media/{sha[:2]}/{sha}") == pdf

    # An agent of another campaign sees none of it, at the gateway and in the CRM.
    other = await opts.other_campaign("g", agents=[o.users["a2"]])
    await call(crm_gw, a1, "GET", f"/resources?campaign_id={other.id}", status=403)
    await call(crm_gw, admin, "PATCH", f"/resources/{reply['id']}", {"text": "¡Hola de nuevo!"})
    await call(crm_gw, admin, "PATCH", f"/resources/{made['id']}", {"text": "x"}, status=400)
    await call(crm_gw, admin, "DELETE", f"/resources/{reply['id']}", status=204)
    assert [r["kind"] for r in (await call(crm_gw, a1, "GET", f"/resources?campaign_id={o.camp}"))["items"]] == ["file"]
