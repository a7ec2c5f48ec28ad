"""Seed 000 "Actualización de Datos": the update template is built from a contact search with its key and update
columns, and the update import reads the edited file back with the same keys and fields."""

from __future__ import annotations

import io

import openpyxl


async def test_update_template_round_trip(client, jobs, unique):
    company = f"Acme {unique}"
    made = []
    for i in range(2):
        resp = await client.post("/contacts", json={"name": f"Viejo {i}", "document": f"D{unique}{i}",
                                                    "company": company, "custom": {"plan": "A"}})
        made.append(await resp.json())
    await client.post("/contacts", json={"name": "Otra", "document": f"X{unique}", "company": f"Otra {unique}"})

    resp = await client.get("/imports/template", params={"kind": "import_updates", "company": company,
                                                          "keys": "document", "fields": "name,custom.plan"})
    assert resp.status == 200, await resp.text()
    book = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert rows[0] == ["document", "name", "custom.plan"]
    assert sorted(rows[1:]) == [[f"D{unique}0", "Viejo 0", "A"], [f"D{unique}1", "Viejo 1", "A"]]

    # Edited and imported back with the same key and update columns.
    sheet = book.active
    for r in range(2, sheet.max_row + 1):
        sheet.cell(r, 2).value = sheet.cell(r, 2).value.replace("Viejo", "Nuevo")
        sheet.cell(r, 3).value = "B"
    out = io.BytesIO()
    book.save(out)
    upload = await jobs.uploaded("update.xlsx", out.getvalue())
    job = await jobs.run("import_updates", {"keys": ["document"], "fields": ["name", "custom.plan"]}, upload["id"])
    assert job["status"] == "succeeded", job
    for c in made:
        got = await (await client.get(f"/contacts/{c['id']}")).json()
        assert got["name"].startswith("Nuevo") and got["custom"]["plan"] == "B"

    for params, field in (({"keys": "document", "fields": "salary"}, "fields"),
                          ({"keys": "", "fields": "name"}, "keys"), ({"keys": "name", "fields": "name"}, "fields")):
        resp = await client.get("/imports/template", params={"kind": "import_updates", **params})
        assert resp.status == 400 and (await resp.json())["error"]["field"] == field, params
