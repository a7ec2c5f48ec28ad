"""Contacts over HTTP against the real PostgreSQL: normalization, validation, audit, search, matching."""

from __future__ import annotations

from ..conftest import as_user


async def _create(client, **body) -> dict:
    resp = await client.post("/contacts", json=body, headers=as_user("crm", "ana"))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_create_normalizes_phones_and_keeps_the_original_text(client, unique):
    c = await _create(client, name=f"Ana {unique}", phones=["011 15-4444-5555", {"number": "+54 9 11 4444 5556",
                      "label": "work"}], emails=["Ana.Perez@Example.COM"],
                      handles=[{"network": "instagram", "handle": "@Ana_P"}], company="ACME",
                      custom={"segment": "gold"}, tags=["vip", "vip", "moroso"], assigned_user="agent-ana")
    assert [p["number"] for p in c["phones"]] == ["+5491144445555", "+5491144445556"]
    assert c["phones"][0]["raw"] == "011 15-4444-5555"
    assert c["phones"][1]["label"] == "work"
    assert c["emails"][0]["address"] == "ana.perez@example.com"
    assert c["handles"] == [{"network": "instagram", "handle": "ana_p", "raw": "@Ana_P"}]
    assert c["tags"] == ["vip", "moroso"]
    got = await (await client.get(f"/contacts/{c['id']}")).json()
    assert got["custom"] == {"segment": "gold"} and got["company"] == "ACME"
    assert got["lists"] == [] and got["batches"] == []


async def test_bad_phone_names_the_field_and_writes_nothing(client, unique):
    resp = await client.post("/contacts", json={"name": f"Bad {unique}", "phones": ["+5491144445555", "12"]})
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["field"] == "phones[1]" and "not a valid phone" in err["message"]
    found = await (await client.get("/contacts", params={"q": unique})).json()
    assert found["items"] == []


async def test_bad_inputs_are_rejected_with_their_field(client, unique):
    cases = [
        ({"name": "x", "emails": ["no-at-sign"]}, "emails[0]"),
        ({"name": "x", "handles": [{"network": "Insta gram", "handle": "a"}]}, "handles[0]"),
        ({"name": "x", "shoe_size": 42}, "shoe_size"),
        ({"name": "x", "tags": ["ok", "  "]}, "tags"),
        ({"name": "x", "custom": "not-an-object"}, "custom"),
        ({"company": "only a company"}, "name"),
        (["not", "an", "object"], "body"),
    ]
    for body, field in cases:
        resp = await client.post("/contacts", json=body)
        assert resp.status == 400, body
        assert (await resp.json())["error"]["field"] == field, body
    resp = await client.post("/contacts", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "body"
    assert (await client.get("/contacts/nope")).status == 404


async def test_edits_are_audited_with_who_and_what(client, unique):
    c = await _create(client, name=f"Bruno {unique}", phones=["+5491150000001"], custom={"a": 1, "b": 2})
    sofia = as_user("crm", "sup-sofia", "supervisor")
    resp = await client.patch(f"/contacts/{c['id']}", json={"name": f"Bruno R {unique}", "custom": {"b": None,
                              "c": 3}, "phones": ["+5491150000002"]}, headers=sofia)
    assert resp.status == 200, await resp.text()
    after = await resp.json()
    assert after["custom"] == {"a": 1, "c": 3}
    assert [p["number"] for p in after["phones"]] == ["+5491150000002"]
    # A patch that changes nothing records nothing; a bad one changes nothing.
    assert (await client.patch(f"/contacts/{c['id']}", json={"company": None})).status == 200
    bad = await client.patch(f"/contacts/{c['id']}", json={"name": "zzz", "phones": ["nope"]})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "phones[0]"
    assert (await client.patch(f"/contacts/{c['id']}", json={})).status == 400
    history = await (await client.get(f"/contacts/{c['id']}/history")).json()
    changes = [i for i in history["items"] if i["kind"] == "change"]
    assert [i["action"] for i in changes] == ["updated", "created"]
    upd = changes[0]
    assert upd["actor"] == "sup-sofia"
    assert upd["changes"]["name"] == [f"Bruno {unique}", f"Bruno R {unique}"]
    assert upd["changes"]["phones"] == [["+5491150000001"], ["+5491150000002"]]
    assert upd["changes"]["custom"] == [{"a": 1, "b": 2}, {"a": 1, "c": 3}]
    assert changes[1]["actor"] == "ana"
    got = await (await client.get(f"/contacts/{c['id']}")).json()
    assert got["name"] == f"Bruno R {unique}"


async def test_search_filters_and_cursor_pagination(client, unique):
    company = f"Co-{unique}"
    made = [await _create(client, name=f"P{i} {unique}", company=company, tags=["t"] if i % 2 else [],
                          phones=[f"+54911600{unique[:0]}{i:05d}"[:14]]) for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"company": company.upper(), "limit": "2"} | ({"cursor": cursor} if cursor else {})
        body = await (await client.get("/contacts", params=params)).json()
        seen += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [c["id"] for c in reversed(made)]
    tagged = await (await client.get("/contacts", params={"company": company, "tag": "t"})).json()
    assert {c["id"] for c in tagged["items"]} == {made[1]["id"], made[3]["id"]}
    by_phone = await (await client.get("/contacts", params={"phone": made[2]["phones"][0]["number"]})).json()
    assert [c["id"] for c in by_phone["items"]] == [made[2]["id"]]
    for params, field in (({"cursor": "garbage"}, "cursor"), ({"limit": "0"}, "limit"),
                          ({"phone": "12"}, "phone"), ({"activity_from": "yesterday"}, "activity_from")):
        resp = await client.get("/contacts", params=params)
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field


async def test_match_by_phone_email_and_handle_one_several_none(client, unique):
    email = f"m.{unique}@example.com"
    a = await _create(client, name="A", phones=["+5491170001111"], emails=[email])
    b = await _create(client, name="B", phones=["+5491170001111"],
                      handles=[{"network": "instagram", "handle": f"h{unique}"}])
    several = await (await client.get("/contacts/match", params={"phone": "+54 9 11 7000-1111"})).json()
    assert several["result"] == "several" and {c["id"] for c in several["contacts"]} >= {a["id"], b["id"]}
    one = await (await client.get("/contacts/match", params={"email": email.upper()})).json()
    assert one["result"] == "one" and one["contacts"][0]["id"] == a["id"]
    handle = await (await client.get("/contacts/match", params={"handle": f"@H{unique}",
                                                                "network": "instagram"})).json()
    assert handle["result"] == "one" and handle["contacts"][0]["id"] == b["id"]
    none = await (await client.get("/contacts/match", params={"email": f"zz{unique}@x.org"})).json()
    assert none == {"result": "none", "contacts": []}
    assert (await client.get("/contacts/match")).status == 400
    # No match: the agent attaches the address to an existing contact.
    resp = await client.post(f"/contacts/{a['id']}/addresses", json={"kind": "email", "value": f"zz{unique}@x.org"})
    assert resp.status == 200
    now = await (await client.get("/contacts/match", params={"email": f"zz{unique}@x.org"})).json()
    assert now["result"] == "one"
    bad = await client.post(f"/contacts/{a['id']}/addresses", json={"kind": "phone", "value": "abc"})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "value"


async def test_delete_contact_takes_its_addresses_accounts_and_memberships(client, unique):
    phone = f"+1202555{int(unique[:6], 16) % 10000:04d}"
    c = await _create(client, name=f"Gone {unique}", phones=[phone], emails=[f"gone{unique}@x.org"])
    kept = await _create(client, name=f"Kept {unique}")
    account = await (await client.post("/accounts", json={"contact_id": c["id"], "campaign_id": f"del-{unique}",
                                                          "number": "N1"})).json()
    groups = {}
    for kind in ("lists", "batches"):
        groups[kind] = (await (await client.post(f"/{kind}", json={"name": f"g {unique}"})).json())["id"]
        added = await client.post(f"/{kind}/{groups[kind]}/members", json={"contact_ids": [c["id"], kept["id"]]})
        assert added.status == 200, await added.text()

    assert (await client.delete(f"/contacts/{c['id']}")).status == 204
    assert (await client.get(f"/contacts/{c['id']}")).status == 404
    assert (await client.delete(f"/contacts/{c['id']}")).status == 404
    assert (await client.get(f"/accounts/{account['id']}")).status == 404
    for params in ({"phone": phone}, {"email": f"gone{unique}@x.org"}):
        assert (await (await client.get("/contacts/match", params=params)).json())["result"] == "none"
    for kind, group_id in groups.items():
        assert (await (await client.get(f"/{kind}/{group_id}")).json())["members"] == 1
    # A deleted contact cannot get new rows: it is refused like any unknown contact.
    again = await client.post("/accounts", json={"contact_id": c["id"], "campaign_id": f"del-{unique}",
                                                 "number": "N2"})
    assert again.status == 404 and (await again.json())["error"]["field"] == "contact_id"
    late = await client.post(f"/lists/{groups['lists']}/members", json={"contact_ids": [kept["id"], c["id"]]})
    assert late.status == 400 and (await late.json())["error"]["field"] == "contact_ids[1]"


async def test_accounts_lists_and_batches(client, unique):
    c = await _create(client, name=f"Acc {unique}")
    camp = f"camp-{unique}"
    body = {"contact_id": c["id"], "campaign_id": camp, "number": "L-1", "product": "loan", "fields": {"due": 10}}
    acc = await client.post("/accounts", json=body)
    assert acc.status == 201
    account = await acc.json()
    assert (await client.post("/accounts", json=body)).status == 409
    missing = await client.post("/accounts", json=body | {"contact_id": "nobody", "number": "L-2"})
    assert missing.status == 404 and (await missing.json())["error"]["field"] == "contact_id"
    patched = await (await client.patch(f"/accounts/{account['id']}", json={"fields": {"paid": True}})).json()
    assert patched["fields"] == {"due": 10, "paid": True}
    listed = await (await client.get("/accounts", params={"contact_id": c["id"]})).json()
    assert [a["number"] for a in listed["items"]] == ["L-1"]
    other = await (await client.post("/accounts", json=body | {"number": "L-3"})).json()
    taken = await client.patch(f"/accounts/{other['id']}", json={"number": "L-1"})  # the repository says 409
    assert taken.status == 409 and (await taken.json())["error"]["field"] == "number"
    assert (await (await client.get(f"/accounts/{other['id']}")).json())["number"] == "L-3"

    lst = await (await client.post("/lists", json={"name": f"Base {unique}", "campaign_id": camp})).json()
    bad = await client.post(f"/lists/{lst['id']}/members", json={"contact_ids": [c["id"], "ghost"]})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "contact_ids[1]"
    assert (await (await client.get(f"/lists/{lst['id']}")).json())["members"] == 0
    ok = await client.post(f"/lists/{lst['id']}/members", json={"contact_ids": [c["id"]]})
    assert (await ok.json()) == {"added": 1}
    batch = await (await client.post("/batches", json={"name": f"Lote {unique}"})).json()
    await client.post(f"/batches/{batch['id']}/members", json={"contact_ids": [c["id"]]})
    got = await (await client.get(f"/contacts/{c['id']}")).json()
    assert [m["list_id"] for m in got["lists"]] == [lst["id"]]
    assert [b["batch_id"] for b in got["batches"]] == [batch["id"]]
    in_list = await (await client.get("/contacts", params={"list_id": lst["id"]})).json()
    assert [x["id"] for x in in_list["items"]] == [c["id"]]


async def test_lists_and_batches_page_by_cursor(client, unique):
    """Every list answers ``{"items", "next_cursor"}``; following the cursors gives each row once."""
    camp = f"camp-pages-{unique}"

    async def walk(path: str, params: dict[str, str]) -> list[str]:
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            query = {**params, "limit": "2", **({"cursor": cursor} if cursor else {})}
            page = await (await client.get(path, params=query)).json()
            seen += [x["id"] for x in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen
        raise AssertionError(f"{path} never reached its last page")

    for table in ("lists", "batches"):
        made = []
        for i in range(3):
            resp = await client.post(f"/{table}", json={"name": f"{table} {i}", "campaign_id": camp})
            made.append((await resp.json())["id"])
        assert await walk(f"/{table}", {"campaign_id": camp}) == list(reversed(made))  # newest first
    bad = await client.get("/lists", params={"cursor": "nope"})
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "cursor"
