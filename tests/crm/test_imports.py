"""Account / contact imports as background jobs: sniffing, template, mapping, dry run, options, bad input."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook

from libs.contracts import CampaignSnapshot, CustomField, Typification

HEADER = ["account_number", "document", "name", "phone", "email", "company", "product", "balance", "due_date",
          "assigned_user", "tags"]


def csv_bytes(rows: list[list[str]], sep: str = ",", encoding: str = "utf-8") -> bytes:
    return "\n".join(sep.join(r) for r in rows).encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def test_upload_detects_format_encoding_and_separator(jobs, unique):
    latin = await jobs.uploaded("cuentas.csv", csv_bytes([["documento", "nombre"], ["1", "Peña Ñandú"]], ";",
                                                         "cp1252"))
    assert (latin["format"], latin["encoding"], latin["delimiter"]) == ("csv", "cp1252", ";")
    assert latin["columns"] == ["documento", "nombre"] and latin["sample"] == [["1", "Peña Ñandú"]]
    bom = await jobs.uploaded("a.csv", b"\xef\xbb\xbf" + csv_bytes([["a", "b"], ["x", "y"]], "\t"))
    assert (bom["encoding"], bom["delimiter"], bom["columns"]) == ("utf-8-sig", "\t", ["a", "b"])
    book = await jobs.uploaded("a.xlsx", xlsx_bytes([["a", "b"], [1, "dos"]]))
    assert book["format"] == "xlsx" and book["columns"] == ["a", "b"] and book["sample"] == [[1, "dos"]]


async def test_bad_files_are_refused_with_a_reason(jobs, client):
    cases = [
        ("empty.csv", b"", "file", "empty"),
        ("blank.csv", b"\n\n  \n", "file", "empty"),
        ("fake.xlsx", b"name,phone\nA,1\n", "file", "not really an XLSX"),
        ("zip.xlsx", b"PK\x03\x04garbage-not-a-zip", "file", "not a valid XLSX"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "file", "not a valid XLS"),
        ("bin.csv", b"a,b\n\x00\x01\x02\x81\x8d", "encoding", "NUL"),
        ("mixed.csv", b"a,b\n\x81\x8d\x90", "encoding", "neither UTF-8"),
        ("dup.csv", b"a,b,A\n1,2,3", "columns", "twice"),
        ("noname.csv", b"a,,b\n1,2,3", "columns", "no name"),
    ]
    for name, data, field, words in cases:
        resp = await jobs.upload(name, data)
        assert resp.status == 400, (name, await resp.text())
        err = (await resp.json())["error"]
        assert err["field"] == field and words in err["message"], (name, err)
    resp = await jobs.upload("x.csv", b"a\n1", encoding="klingon")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "encoding"
    resp = await jobs.upload("x.csv", "a\nñ".encode("cp1252"), encoding="utf-8")
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "encoding"


async def test_template_lists_the_fields_and_the_campaign_custom_fields(client, h, unique):
    camp = await h.put_campaign(CampaignSnapshot(id=f"tpl-{unique}", name="T", custom_fields=[
        CustomField(key="cuotas", label="Cuotas", type="number")]))
    resp = await client.get("/imports/template", params={"kind": "import_accounts", "campaign_id": camp.id})
    assert resp.status == 200
    header = next(load_workbook(io.BytesIO(await resp.read())).active.iter_rows(values_only=True))
    assert list(header) == ["account_number", "document", "name", "phone", "phone_2", "email", "company", "product",
                            "balance", "due_date", "assigned_user", "tags", "account.cuotas"]
    assert (await client.get("/imports/template", params={"kind": "nope"})).status == 400


def _campaign(unique: str) -> CampaignSnapshot:
    return CampaignSnapshot(id=f"imp-{unique}", name=f"Imp {unique}", agents=[f"ana-{unique}"],
                            typifications=[Typification(id="ok", category="OK")],
                            custom_fields=[CustomField(key="cuotas", label="Cuotas", type="number")])


async def _existing(client, camp_id: str, unique: str) -> dict:
    person = await (await client.post("/contacts", json={"name": "Viejo Nombre", "document": f"D1-{unique}",
                                                         "tags": ["antiguo"]})).json()
    for number in (f"A1-{unique}", f"OLD-{unique}"):
        await client.post("/accounts", json={"contact_id": person["id"], "campaign_id": camp_id, "number": number})
    old_case = await (await client.post("/cases", json={"campaign_id": camp_id, "contact_id": person["id"]})).json()
    return {"contact": person, "case": old_case}


def _rows(unique: str) -> list[list[str]]:
    u = unique
    return [
        [*HEADER, "account.cuotas"],
        [f"A1-{u}", f"D1-{u}", "Nuevo Nombre", "+5491150001001", "", "ACME", "Plan 60", "1.500,50", "2031-05-01",
         f"ana-{u}", "vip", "3"],                                                     # 2: existing account
        [f"A2-{u}", f"D2-{u}", "Maria", "+5491150001002", f"m.{u}@x.com", "", "Plan 12", "100", "01/06/2031",
         f"ana-{u}", "nueva|vip", "2"],                                               # 3: new
        [f"A3-{u}", f"D2-{u}", "Maria", "", "", "", "Plan 24", "", "", "", "", ""],   # 4: 2nd account, same customer
        [f"A2-{u}", f"D9-{u}", "Dup", "", "", "", "", "", "", "", "", ""],            # 5: duplicate in the file
        [f"A5-{u}", f"D5-{u}", "Bad Date", "", "", "", "", "", "31/02/2031", "", "", ""],   # 6
        [f"A6-{u}", f"D6-{u}", "Bad Number", "", "", "", "", "mucho", "", "", "", ""],      # 7
        [f"A7-{u}", f"D7-{u}", "Bad Phone", "12", "", "", "", "", "", "", "", ""],          # 8
        ["", f"D8-{u}", "No Account", "", "", "", "", "", "", "", "", ""],                  # 9
        [f"A9-{u}", f"D9b-{u}", "=HYPERLINK(\"http://evil\")", "", "", "", "", "", "", "", "", ""],  # 10
        ["", "", "", "", "", "", "", "", "", "", "", ""],                                   # 11: blank, skipped
        [f"A10-{u}", f"D10-{u}", "Cuotas Mal", "", "", "", "", "", "", "", "", "tres"],     # 12
    ]


async def test_account_import_dry_run_then_run_with_options(client, h, jobs, unique):
    camp = await h.put_campaign(_campaign(unique))
    before = await _existing(client, camp.id, unique)
    up = await jobs.uploaded("cuentas.csv", csv_bytes(_rows(unique), ";"))
    base = await (await client.post("/lists", json={"name": f"base {unique}", "campaign_id": camp.id})).json()
    params = {"campaign_id": camp.id, "replace_duplicates": True, "create_cases": True, "case_priority": "high",
              "tags_mode": "append", "assign_users": True, "close_open_cases": True, "delete_other_accounts": True,
              "list_id": base["id"]}

    dry = await jobs.run("import_accounts", params, up["id"], dry_run=True)
    assert dry["status"] == "succeeded", dry
    assert dry["counts"] == {"new": 2, "duplicate": 1, "invalid": 7, "open_cases_to_close": 1}
    rows = {int(r["row"]): r for r in await jobs.outcome(dry["id"])}
    assert rows[2]["outcome"] == "duplicate" and rows[3]["outcome"] == "new" and rows[4]["outcome"] == "new"
    assert "in the file (first at row 3)" in rows[5]["reason"]
    assert "due_date" in rows[6]["reason"] and "not a date" in rows[6]["reason"]
    assert "balance" in rows[7]["reason"] and "phone" in rows[8]["reason"]
    assert "account_number: required" in rows[9]["reason"] and "formula" in rows[10]["reason"]
    assert 11 not in rows and "account.cuotas" in rows[12]["reason"]
    assert (await (await client.get("/contacts", params={"q": f"D2-{unique}"})).json())["items"] == []
    assert (await (await client.get(f"/cases/{before['case']['id']}")).json())["status"] == "open"

    run = await jobs.run("import_accounts", params, up["id"])
    assert run["status"] == "succeeded", run
    assert run["counts"] == {"created": 2, "updated": 1, "invalid": 7, "open_cases_closed": 1,
                             "other_accounts_deleted": 1}
    outcome = await jobs.outcome(run["id"])
    assert [int(r["row"]) for r in outcome] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]

    old = await (await client.get(f"/contacts/{before['contact']['id']}")).json()
    assert old["name"] == "Nuevo Nombre" and old["tags"] == ["antiguo", "vip"] and old["company"] == "ACME"
    assert old["assigned_user"] == f"ana-{unique}" and [p["number"] for p in old["phones"]] == ["+5491150001001"]
    accounts = await (await client.get("/accounts", params={"contact_id": old["id"]})).json()
    assert [a["number"] for a in accounts["items"]] == [f"A1-{unique}"]  # OLD-... deleted
    assert accounts["items"][0]["fields"] == {"balance": 1500.5, "due_date": "2031-05-01", "cuotas": 3}
    history = await (await client.get(f"/contacts/{old['id']}/history")).json()
    imported = [i for i in history["items"] if i["kind"] == "change" and i["action"] == "imported"]
    assert imported and imported[0]["actor"] == "sofia" and imported[0]["changes"]["job_id"] == run["id"]

    maria = (await (await client.get("/contacts", params={"q": f"D2-{unique}"})).json())["items"]
    assert len(maria) == 1 and maria[0]["tags"] == ["nueva", "vip"]
    assert [e["address"] for e in maria[0]["emails"]] == [f"m.{unique}@x.com"]
    maria_accounts = await (await client.get("/accounts", params={"contact_id": maria[0]["id"]})).json()
    assert sorted(a["number"] for a in maria_accounts["items"]) == [f"A2-{unique}", f"A3-{unique}"]
    assert (await (await client.get(f"/cases/{before['case']['id']}")).json())["status"] == "closed"
    panel = await (await client.get("/panel", params={"campaign_id": camp.id})).json()
    assert len(panel["items"]) == 3 and {i["priority"] for i in panel["items"]} == {"high"}
    assert {i["account"]["number"] for i in panel["items"]} == {f"A1-{unique}", f"A2-{unique}", f"A3-{unique}"}
    batch = (await (await client.get(f"/contacts/{maria[0]['id']}")).json())["batches"]
    assert batch and batch[0]["name"] == "cuentas.csv"
    members = (await (await client.get(f"/lists/{base['id']}/members")).json())["items"]
    assert sorted(m["contact_id"] for m in members) == sorted([old["id"], maria[0]["id"]])
    assert {m["batch_id"] for m in members} == {batch[0]["batch_id"]}


async def test_duplicates_are_skipped_without_replace_and_tags_replace_or_remove(client, h, jobs, unique):
    camp = await h.put_campaign(_campaign(unique))
    await _existing(client, camp.id, unique)
    up = await jobs.uploaded("c.csv", csv_bytes([["account_number", "document", "name", "tags"],
                                                 [f"A1-{unique}", f"D1-{unique}", "Otro", "x"],
                                                 [f"N1-{unique}", f"D1-{unique}", "Otro", "antiguo"]]))
    run = await jobs.run("import_accounts", {"campaign_id": camp.id, "tags_mode": "remove"}, up["id"])
    assert run["counts"] == {"skipped": 1, "created": 1}
    rows = await jobs.outcome(run["id"])
    assert rows[0]["outcome"] == "skipped" and "replace_duplicates is off" in rows[0]["reason"]
    person = (await (await client.get("/contacts", params={"q": f"D1-{unique}"})).json())["items"][0]
    assert person["name"] == "Viejo Nombre" and person["tags"] == []  # new account N1 attached, tag removed


async def test_custom_mapping_saved_mapping_and_mapping_errors(client, h, jobs, unique):
    camp = await h.put_campaign(_campaign(unique))
    data = csv_bytes([["Cedula", "Nombre Completo", "Nro Cuenta", "Celular"],
                      [f"C-{unique}", "Ana Gomez", f"M1-{unique}", "+5491150002001"]], ";")
    up = await jobs.uploaded("custom.csv", data)
    mapping = {"document": "Cedula", "name": "Nombre Completo", "account_number": "Nro Cuenta", "phone": "Celular"}
    saved = await client.post("/import-mappings", json={"name": f"banco-{unique}", "kind": "import_accounts",
                                                        "mapping": mapping})
    assert saved.status == 201
    again = await client.post("/import-mappings", json={"name": f"banco-{unique}", "kind": "import_accounts",
                                                        "mapping": mapping})
    assert again.status == 409
    bad_target = await client.post("/import-mappings", json={"name": f"x-{unique}", "kind": "import_accounts",
                                                             "mapping": {"shoe": "Cedula"}})
    assert bad_target.status == 400 and (await bad_target.json())["error"]["field"] == "mapping.shoe"
    mapping_id = (await saved.json())["id"]
    run = await jobs.run("import_accounts", {"campaign_id": camp.id, "mapping_id": mapping_id,
                                             "dedup_key": "document"}, up["id"])
    assert run["counts"] == {"created": 1}, run
    match = await (await client.get("/contacts/match", params={"phone": "+5491150002001"})).json()
    assert match["result"] == "one" and match["contacts"][0]["document"] == f"C-{unique}"

    async def refused(params, field, words):
        resp = await jobs.start("import_accounts", {"campaign_id": camp.id, **params}, up["id"])
        assert resp.status in (400, 404), await resp.text()
        err = (await resp.json())["error"]
        assert err["field"] == field and words in err["message"], err

    await refused({"mode": "template"}, "columns", "not in the template")
    await refused({"mode": "custom"}, "params.mapping", "needs a mapping")
    await refused({"mapping": {**mapping, "phone": "Telefono"}}, "params.mapping.phone", "not in the file")
    await refused({"mapping": {"name": "Nombre Completo", "document": "Cedula"}}, "columns", "account_number")
    await refused({"mapping": mapping, "dedup_key": "email"}, "columns", "email")
    await refused({"mapping_id": "ghost"}, "params.mapping_id", "not found")
    await refused({"mapping": mapping, "case_priority": "urgent"}, "params.case_priority", "")
    await refused({"mapping": mapping, "list_id": "ghost"}, "params.list_id", "not found")
    resp = await jobs.start("import_accounts", {"campaign_id": camp.id})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "upload_id"
    resp = await jobs.start("teleport", {})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "kind"


async def test_xlsx_import_with_real_dates_and_numbers(client, h, jobs, unique):
    from datetime import datetime

    camp = await h.put_campaign(_campaign(unique))
    data = xlsx_bytes([["account_number", "document", "name", "balance", "due_date"],
                       [f"X1-{unique}", f"XD-{unique}", "Excel", 1234.5, datetime(2031, 7, 1)],
                       [f"X2-{unique}", f"XE-{unique}", "Excel Bad", "n/a", datetime(2031, 7, 1)]])
    up = await jobs.uploaded("cuentas.xlsx", data)
    run = await jobs.run("import_accounts", {"campaign_id": camp.id}, up["id"])
    assert run["counts"] == {"created": 1, "invalid": 1}
    acc = (await (await client.get("/accounts", params={"campaign_id": camp.id})).json())["items"]
    assert acc[0]["fields"] == {"balance": 1234.5, "due_date": "2031-07-01"}


async def test_contact_details_and_update_imports(client, jobs, unique):
    batch = await (await client.post("/batches", json={"name": f"lote {unique}"})).json()
    inside = await (await client.post("/contacts", json={"name": "In", "document": f"E1-{unique}"})).json()
    await (await client.post("/contacts", json={"name": "Out", "document": f"E2-{unique}"})).json()
    await client.post(f"/batches/{batch['id']}/members", json={"contact_ids": [inside["id"]]})
    up = await jobs.uploaded("det.csv", csv_bytes([["document", "custom.plan", "custom.score"],
                                                    [f"E1-{unique}", "oro", "9"], [f"E2-{unique}", "plata", "1"],
                                                    [f"E3-{unique}", "x", "1"]]))
    run = await jobs.run("import_details", {"batch_id": batch["id"], "key": "document"}, up["id"])
    assert run["counts"] == {"updated": 1, "invalid": 2}
    rows = await jobs.outcome(run["id"])
    assert f"in batch {batch['id']}" in rows[1]["reason"]
    got = await (await client.get(f"/contacts/{inside['id']}")).json()
    assert got["custom"] == {"plan": "oro", "score": "9"}

    ent = await jobs.uploaded("ent.csv", csv_bytes([["document", "name", "company", "custom.nivel"],
                                                     [f"E1-{unique}", "In Renamed", "Co", ""],
                                                     [f"E9-{unique}", "Brand New", "Co", "ñ \"oro\""]]))
    run = await jobs.run("import_contacts", {"replace_duplicates": True}, ent["id"])
    assert run["counts"] == {"updated": 1, "created": 1}
    new = (await (await client.get("/contacts", params={"q": f"E9-{unique}"})).json())["items"][0]
    assert new["custom"] == {"nivel": 'ñ "oro"'} and new["company"] == "Co"
    upd = await jobs.uploaded("upd.csv", csv_bytes([["document", "name", "company"],
                                                     [f"E1-{unique}", "Final", "NewCo"],
                                                     [f"E404-{unique}", "x", "y"]]))
    run = await jobs.run("import_updates", {"keys": ["document"], "fields": ["company"]}, upd["id"])
    assert run["counts"] == {"updated": 1, "invalid": 1}
    got = await (await client.get(f"/contacts/{inside['id']}")).json()
    assert got["company"] == "NewCo" and got["name"] == "In Renamed"  # only the chosen field changed
    resp = await jobs.start("import_updates", {"keys": ["document"], "fields": ["document"]}, upd["id"])
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "params.fields"


async def test_details_land_on_the_chosen_entity(client, h, jobs, unique):
    """Seed 000 "Detalles": the same file lands in the contacts' custom fields (entity contact) or in the fields of
    their accounts in the batch's campaign (entity account)."""
    u = unique
    camp = await h.put_campaign(_campaign(u))
    batch = await (await client.post("/batches", json={"name": f"lote {u}", "campaign_id": camp.id})).json()
    one = await (await client.post("/contacts", json={"name": "Una", "document": f"U1-{u}"})).json()
    two = await (await client.post("/contacts", json={"name": "Dos", "document": f"U2-{u}"})).json()
    await client.post(f"/batches/{batch['id']}/members", json={"contact_ids": [one["id"], two["id"]]})
    acc = {}
    for owner, number in ((one, "N1"), (two, "N2"), (two, "N3")):
        resp = await client.post("/accounts", json={"contact_id": owner["id"], "campaign_id": camp.id,
                                                    "number": f"{number}-{u}", "fields": {"plan": "base"}})
        acc[number] = (await resp.json())["id"]

    async def account(number: str) -> dict:
        return await (await client.get(f"/accounts/{acc[number]}")).json()

    async def contact(c: dict) -> dict:
        return await (await client.get(f"/contacts/{c['id']}")).json()

    up = await jobs.uploaded("det.csv", csv_bytes([["document", "custom.plan", "custom.cuotas"],
                                                    [f"U1-{u}", "oro", "12"], [f"U2-{u}", "plata", "2"]]))
    run = await jobs.run("import_details", {"batch_id": batch["id"], "key": "document", "entity": "account"}, up["id"])
    assert run["counts"] == {"updated": 1, "invalid": 1}
    rows = await jobs.outcome(run["id"])
    assert rows[0]["ref"] == acc["N1"]
    assert "2 accounts in campaign" in rows[1]["reason"] and "account_number" in rows[1]["reason"]
    assert (await account("N1"))["fields"] == {"plan": "oro", "cuotas": 12}  # typed by the batch's campaign
    assert (await contact(one))["custom"] == {}  # not the contact's

    run = await jobs.run("import_details", {"batch_id": batch["id"], "key": "document", "entity": "contact"}, up["id"])
    assert run["counts"] == {"updated": 2}
    assert (await jobs.outcome(run["id"]))[0]["ref"] == one["id"]
    assert (await contact(one))["custom"] == {"plan": "oro", "cuotas": 12}
    assert (await contact(two))["custom"] == {"plan": "plata", "cuotas": 2}
    assert (await account("N2"))["fields"] == {"plan": "base"}  # the contact run left the accounts alone

    # The account_number column picks one of a contact's accounts; product is the account's own column.
    pick = await jobs.uploaded("pick.csv", csv_bytes([["document", "account_number", "product", "custom.plan"],
                                                      [f"U2-{u}", f"N3-{u}", "Gold", "cobre"],
                                                      [f"U2-{u}", f"N9-{u}", "", "x"]]))
    run = await jobs.run("import_details", {"batch_id": batch["id"], "key": "document", "entity": "account"},
                         pick["id"])
    assert run["counts"] == {"updated": 1, "invalid": 1}
    assert f"no account 'N9-{u}' in campaign" in (await jobs.outcome(run["id"]))[1]["reason"]
    n3, n2 = await account("N3"), await account("N2")
    assert (n3["product"], n3["fields"]["plan"], n2["fields"]["plan"]) == ("Gold", "cobre", "base")

    async def refused(params: dict, upload_id: str, field: str, words: str) -> None:
        resp = await jobs.start("import_details", {"batch_id": batch["id"], "key": "document", **params}, upload_id)
        assert resp.status == 400, await resp.text()
        err = (await resp.json())["error"]
        assert err["field"] == field and words in err["message"], err

    await refused({"entity": "case"}, up["id"], "params.entity", "")
    await refused({"key": "company"}, up["id"], "params.key", "")
    named = await jobs.uploaded("named.csv", csv_bytes([["document", "name"], [f"U1-{u}", "Otra"]]))
    await refused({"entity": "account"}, named["id"], "columns", "name")  # a contact column, not the account's
    loose = await (await client.post("/batches", json={"name": f"suelto {u}"})).json()
    await refused({"entity": "account", "batch_id": loose["id"]}, up["id"], "params.entity", "no campaign")

    # The template follows the entity and the key.
    async def header(**params: str) -> list:
        query = {"kind": "import_details", "campaign_id": camp.id, **params}
        resp = await client.get("/imports/template", params=query)
        assert resp.status == 200, await resp.text()
        return list(next(load_workbook(io.BytesIO(await resp.read())).active.iter_rows(values_only=True)))

    assert await header(entity="contact", key="phone") == ["phone", "custom.cuotas"]
    assert await header(entity="account") == ["document", "account_number", "product", "balance", "due_date",
                                              "assigned_user", "custom.cuotas"]
    resp = await client.get("/imports/template", params={"kind": "import_details", "entity": "case"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "entity"
