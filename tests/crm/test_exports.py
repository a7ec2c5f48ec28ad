"""Streamed CSV / XLSX exports with the list filters, and formula injection neutralized."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

EVIL = ["=HYPERLINK(\"http://x\")", "+1+2", "-3+cmd", "@SUM(A1)"]


async def _people(client, unique):
    company = f"Exp-{unique}"
    for i, name in enumerate([*EVIL, "Normal"]):
        resp = await client.post("/contacts", json={"name": name, "company": company,
                                                    "phones": [f"+54911{55000000 + i}"], "custom": {"n": i}})
        assert resp.status == 201, await resp.text()
    return company


async def test_csv_export_is_filtered_and_neutralized(client, unique):
    company = await _people(client, unique)
    await client.post("/contacts", json={"name": "Other", "company": "elsewhere"})
    resp = await client.get("/contacts/export", params={"company": company, "format": "csv"})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert 'filename="contacts.csv"' in resp.headers["Content-Disposition"]
    text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5
    names = {r["name"] for r in rows}
    assert names == {"'" + e for e in EVIL} | {"Normal"}
    assert all(not r["name"].startswith(("=", "+", "-", "@")) for r in rows)
    assert {r["phones"] for r in rows} == {f"+54911{55000000 + i}" for i in range(5)}


async def test_xlsx_export_opens_and_runs_no_formula(client, unique):
    company = await _people(client, unique)
    resp = await client.get("/contacts/export", params={"company": company, "format": "xlsx"})
    assert resp.status == 200
    wb = load_workbook(io.BytesIO(await resp.read()), read_only=True)
    ws = wb.active
    rows = list(ws.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    col = header.index("name")
    assert len(data) == 5
    assert {r[col] for r in data} == {"'" + e for e in EVIL} | {"Normal"}
    # Nothing was stored as a formula cell.
    wb2 = load_workbook(io.BytesIO(await (await client.get("/contacts/export", params={
        "company": company, "format": "xlsx"})).read()))
    assert all(c.data_type != "f" for row in wb2.active.iter_rows() for c in row)


async def test_other_exports_and_bad_format(client, unique):
    resp = await client.get("/contacts/export", params={"format": "pdf"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "format"
    assert (await client.get("/contacts/export", params={"phone": "12"})).status == 400
    for path in ("/calls/export", "/tickets/export"):
        resp = await client.get(path, params={"agent_id": f"nobody-{unique}", "format": "csv"})
        assert resp.status == 200
        lines = (await resp.read()).decode("utf-8-sig").strip().splitlines()
        assert len(lines) == 1 and "id" in lines[0]


async def test_exports_under_the_gateway_name(client, unique):
    company = await _people(client, unique)
    resp = await client.get("/exports/contacts", params={"company": company, "format": "csv"})
    assert resp.status == 200 and len((await resp.read()).decode("utf-8-sig").strip().splitlines()) == 6
    missing = await client.get("/exports/unicorns")
    assert missing.status == 404 and (await missing.json())["error"]["field"] == "kind"
