"""Cases (gestiones) and the operator panel: attend, comment, e-mail, attach, finish with a result, next."""

from __future__ import annotations

import json

from libs.contracts import CampaignSnapshot, CaseOptions, CustomField, Typification
from tests.conftest import as_user  # absolute: test_blobs_s3 loads this module by its path


def _campaign(unique: str, **extra) -> CampaignSnapshot:
    return CampaignSnapshot(
        id=f"cobranza-{unique}", name=f"Cobranza {unique}", agents=[f"ana-{unique}", f"bruno-{unique}"],
        typifications=[Typification(id="promesa", category="Promesa de pago"),
                       Typification(id="no-contesta", category="No contesta")],
        custom_fields=[CustomField(key="monto", label="Monto prometido", required=True)], **extra)


async def _contact(client, name: str, **extra) -> dict:
    resp = await client.post("/contacts", json={"name": name, **extra})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _case(client, campaign_id: str, contact_id: str, **extra) -> dict:
    resp = await client.post("/cases", json={"campaign_id": campaign_id, "contact_id": contact_id, **extra})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_operator_panel_attend_comment_finish_and_next(client, h, unique):
    camp = await h.put_campaign(_campaign(unique))
    ana, bruno = h.agent(f"ana-{unique}"), h.agent(f"bruno-{unique}")
    people = [await _contact(client, f"{n} {unique}", phones=[f"+549114{4000000 + i:07d}"])
              for i, n in enumerate(["Perez Juan", "Gomez Ana", "Diaz Luis", "Ruiz Eva"])]
    acc = await (await client.post("/accounts", json={"contact_id": people[0]["id"], "campaign_id": camp.id,
                                                      "number": "P-1", "product": "Plan 60 cuotas",
                                                      "fields": {"cuotas_vencidas": 3}})).json()
    low = await _case(client, camp.id, people[0]["id"], account_id=acc["id"])
    high = await _case(client, camp.id, people[1]["id"], priority="high")
    theirs = await _case(client, camp.id, people[2]["id"], assigned_user=f"bruno-{unique}", priority="high")
    mine = await _case(client, camp.id, people[3]["id"], assigned_user=f"ana-{unique}", priority="medium")

    panel = await (await client.get("/panel", params={"campaign_id": camp.id}, headers=ana)).json()
    assert [i["id"] for i in panel["items"]] == [high["id"], mine["id"], low["id"]]
    first_low = next(i for i in panel["items"] if i["id"] == low["id"])
    assert first_low["account"]["product"] == "Plan 60 cuotas" and first_low["phones"] == ["+5491144000000"]
    same = await (await client.get("/work-items", params={"campaign_id": camp.id}, headers=ana)).json()
    assert [i["id"] for i in same["items"]] == [i["id"] for i in panel["items"]]
    local = await (await client.get("/panel", params={"campaign_id": camp.id, "q": "gomez"}, headers=ana)).json()
    assert [i["id"] for i in local["items"]] == [high["id"]]
    paged = await (await client.get("/panel", params={"campaign_id": camp.id, "limit": "2"}, headers=ana)).json()
    rest = await (await client.get("/panel", params={"campaign_id": camp.id, "cursor": paged["next_cursor"]},
                                   headers=ana)).json()
    assert [i["id"] for i in paged["items"] + rest["items"]] == [high["id"], mine["id"], low["id"]]

    opened = await (await client.post(f"/work-items/{high['id']}/attend", headers=ana)).json()
    assert opened["status"] == "in_progress" and opened["assigned_user"] == f"ana-{unique}"
    # Another agent's item reads as not there (and so cannot be attended).
    assert (await client.post(f"/cases/{theirs['id']}/attend", headers=ana)).status == 404

    url = f"/cases/{high['id']}/save"
    comment = await client.post(url, json={"comment": "llamar mañana"}, headers=ana)
    assert comment.status == 200
    assert (await comment.json())["case"]["status"] == "in_progress"

    async def error(body, headers=ana, status=400):
        resp = await client.post(url, json=body, headers=headers)
        assert resp.status == status, await resp.text()
        return (await resp.json())["error"]

    assert (await error({"finish": True}))["field"] == "result"
    assert (await error({"finish": True, "result": "bogus", "fields": {"monto": "1"}}))["field"] == "result"
    assert (await error({"finish": True, "result": "promesa"}))["field"] == "fields.monto"
    assert (await error({}))["field"] == "comment"
    # Another agent's item reads as not there: they cannot finish it.
    assert (await error({"finish": True, "result": "promesa", "fields": {"monto": "1"}}, bruno, 404))["field"] == \
        "id"
    still = await (await client.get(f"/cases/{high['id']}")).json()
    assert still["status"] == "in_progress" and still["result"] is None

    done = await client.post(url, json={"finish": True, "result": "promesa", "fields": {"monto": "1500"},
                                        "comment": "promete pagar", "next": True}, headers=ana)
    assert done.status == 200, await done.text()
    body = await done.json()
    assert body["case"]["status"] == "closed" and body["case"]["result"] == "promesa"
    assert body["case"]["closed_by"] == f"ana-{unique}"
    assert [e["kind"] for e in body["case"]["history"]] == ["created", "attended", "comment", "comment", "result"]
    assert body["next"]["id"] == mine["id"] and body["next"]["status"] == "in_progress"
    assert (await error({"comment": "x"}, ana, 409))["field"] == "case_id"
    by_result = await (await client.get("/panel", params={"campaign_id": camp.id, "result": "promesa"},
                                        headers=ana)).json()
    assert by_result["items"] == []  # the panel shows open items only

    found = await (await client.get("/search", params={"q": f"Diaz Luis {unique}"})).json()
    assert [c["id"] for c in found["contacts"]] == [people[2]["id"]]
    assert [c["id"] for c in found["cases"]] == [theirs["id"]]
    assert (await client.get("/search", params={"q": "x"})).status == 400
    history = await (await client.get(f"/contacts/{people[1]['id']}/history")).json()
    assert any(i["kind"] == "case" and i["result"] == "promesa" for i in history["items"])


async def test_case_bad_inputs(client, h, unique):
    person = await _contact(client, f"Bad {unique}")
    for body, field in (({"campaign_id": "c", "contact_id": "ghost"}, "contact_id"),
                        ({"campaign_id": "c", "contact_id": person["id"], "priority": "urgent"}, "priority"),
                        ({"campaign_id": "c", "contact_id": person["id"], "account_id": "nope"}, "account_id"),
                        ({"contact_id": person["id"]}, "campaign_id")):
        resp = await client.post("/cases", json=body)
        assert resp.status in (400, 404), body
        assert (await resp.json())["error"]["field"] == field
    assert (await client.get("/panel")).status == 400
    case = await _case(client, f"unknown-{unique}", person["id"])
    resp = await client.post(f"/cases/{case['id']}/save", json={"finish": True, "result": "x"})
    assert resp.status == 409 and (await resp.json())["error"]["field"] == "campaign_id"


async def test_comment_emailed_to_the_contact_with_cc_and_bcc(client, h, nc, unique):
    camp = await h.put_campaign(_campaign(unique, case_options=CaseOptions(comment_email_domains=["example.com"])))
    person = await _contact(client, f"Mail {unique}", emails=[f"cli.{unique}@cliente.test"])
    case = await _case(client, camp.id, person["id"], title="Reclamo")
    sub = await nc.subscribe("sb.outbound.email.crm-test-email.>")
    await nc.flush()  # subscribed at the server before anything is published
    resp = await client.post(f"/cases/{case['id']}/comments", json={
        "text": "Adjuntamos el detalle", "email": {"cc": ["Jefe@Example.com"], "bcc": ["audit@example.com"]}},
        headers=as_user("crm", "ana", "supervisor", [camp.id]))
    assert resp.status == 201, await resp.text()
    out = json.loads((await sub.next_msg(timeout=5)).data)
    await sub.unsubscribe()
    assert out["type"] == "outbound.message" and out["channel_type"] == "email"
    assert out["to"] == f"cli.{unique}@cliente.test" and out["cc"] == ["jefe@example.com"]
    assert out["bcc"] == ["audit@example.com"] and out["text"] == "Adjuntamos el detalle"
    assert out["subject_line"] == "Reclamo"
    bad = await client.post(f"/cases/{case['id']}/comments", json={"text": "x", "email": {"cc": ["nope"]}})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "email.cc"
    nobody = await _contact(client, f"NoMail {unique}")
    other = await _case(client, camp.id, nobody["id"])
    resp = await client.post(f"/cases/{other['id']}/comments", json={"text": "hola", "email": {}})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "email.to"
    got = await (await client.get(f"/cases/{other['id']}")).json()
    assert [e["kind"] for e in got["history"]] == ["created"]  # nothing half-written
    got = await (await client.get(f"/cases/{case['id']}")).json()
    assert [e["kind"] for e in got["history"]] == ["created", "comment", "email"]


async def test_comment_email_goes_only_to_the_contact_and_the_campaigns_domains(client, h, nc, unique):
    camp = await h.put_campaign(_campaign(unique, case_options=CaseOptions(comment_email_domains=["example.com"])))
    person = await _contact(client, f"Dom {unique}", emails=[f"a.{unique}@cliente.test", f"b.{unique}@otro.test"])
    case = await _case(client, camp.id, person["id"])
    refused = [({"to": ["x@evil.test"]}, "email.to[0]"),
               ({"cc": ["ok@example.com", "spy@evil.test"]}, "email.cc[1]"),
               ({"bcc": ["leak@mail.example.com"]}, "email.bcc[0]"),  # a subdomain is another domain
               ({"to": [f"a.{unique}@cliente.test"], "bcc": [f"c.{unique}@cliente.test"]}, "email.bcc[0]")]
    for email, field in refused:
        resp = await client.post(f"/cases/{case['id']}/comments", json={"text": "x", "email": email})
        assert resp.status == 403, (email, await resp.text())
        err = (await resp.json())["error"]
        assert err["field"] == field and "example.com" in err["message"], err
    # The contact's own addresses, any of them, and the campaign's domains go through.
    sub = await nc.subscribe("sb.outbound.email.crm-test-email.>")
    await nc.flush()  # subscribed at the server before anything is published
    resp = await client.post(f"/cases/{case['id']}/comments", json={"text": "ok", "email": {
        "to": [f"B.{unique}@otro.test"], "cc": ["jefe@EXAMPLE.com"]}})
    assert resp.status == 201, await resp.text()
    out = json.loads((await sub.next_msg(timeout=5)).data)
    await sub.unsubscribe()
    assert out["to"] == f"b.{unique}@otro.test" and out["cc"] == ["jefe@example.com"]
    history = (await (await client.get(f"/cases/{case['id']}")).json())["history"]
    assert [e["kind"] for e in history] == ["created", "comment", "email"]  # the refusals wrote nothing
    # The option both ways: without domains only the contact; a campaign the CRM does not know allows none.
    await h.put_campaign(_campaign(unique, version=2))
    resp = await client.post(f"/cases/{case['id']}/comments", json={"text": "x", "email": {"cc": ["j@example.com"]}})
    assert resp.status == 403 and (await resp.json())["error"]["field"] == "email.cc[0]"
    unknown = await _case(client, f"ghost-{unique}", person["id"])
    resp = await client.post(f"/cases/{unknown['id']}/comments", json={"text": "x", "email": {
        "cc": ["j@example.com"]}})
    assert resp.status == 403 and "no campaign" in (await resp.json())["error"]["message"]


async def test_attachments_go_to_the_blob_store(client, unique):
    person = await _contact(client, f"Att {unique}")
    case = await _case(client, f"camp-{unique}", person["id"])
    data = b"%PDF-1.4 fake dni " * 1000
    from aiohttp import FormData

    form = FormData()
    form.add_field("file", data, filename="dni.pdf", content_type="application/pdf")
    resp = await client.post(f"/cases/{case['id']}/attachments", data=form)
    assert resp.status == 201, await resp.text()
    att = await resp.json()
    assert att["size"] == len(data) and att["filename"] == "dni.pdf"
    down = await client.get(f"/attachments/{att['id']}")
    assert down.status == 200 and await down.read() == data
    assert down.headers["Content-Type"] == "application/pdf"
    raw = await client.post(f"/cases/{case['id']}/attachments", params={"filename": "audio.wav"}, data=b"RIFF....",
                            headers={"Content-Type": "audio/wav"})
    assert raw.status == 201
    got = await (await client.get(f"/cases/{case['id']}")).json()
    assert [a["filename"] for a in got["attachments"]] == ["dni.pdf", "audio.wav"]
    assert [e["kind"] for e in got["history"]][-2:] == ["attachment", "attachment"]
    # The CRM checks the download itself: an agent reaches a file of their own or of nobody's item only.
    await client.patch(f"/cases/{case['id']}", json={"assigned_user": f"ana-{unique}"})
    bob, ana = (as_user("crm", f"{who}-{unique}", "agent", []) for who in ("bob", "ana"))
    theirs = await client.get(f"/attachments/{att['id']}", headers=bob)
    assert theirs.status == 404 and (await theirs.json())["error"]["field"] == "attachment_id"
    own = await client.get(f"/attachments/{att['id']}", headers=ana)
    assert own.status == 200 and await own.read() == data
    for params, body, field in (({"filename": "../etc/passwd"}, b"x", "filename"), ({"filename": "e.txt"}, b"",
                                                                                       "file")):
        resp = await client.post(f"/cases/{case['id']}/attachments", params=params, data=body)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field
    missing = await client.post("/cases/ghost/attachments", params={"filename": "a.txt"}, data=b"x")
    assert missing.status == 404
