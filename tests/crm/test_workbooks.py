"""XLS, XLSB and ODS uploads read through python-calamine, within the XLSX reader's bounds; an account import
from an Excel 97-2003 workbook, an OpenDocument spreadsheet and an Excel binary workbook."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import xlwt

from libs.contracts import CampaignSnapshot
from services.crm.adapters import calamine
from services.crm.adapters.xlsx import XlsxError, XlsxLimits


def xls_bytes(rows: list[list[object]]) -> bytes:
    book = xlwt.Workbook()
    sheet = book.add_sheet("Cuentas")
    dates = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write(r, c, value, dates)
            else:
                sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ods_bytes(rows: list[list[object]], members: int = 0) -> bytes:
    """A minimal OpenDocument spreadsheet (what LibreOffice writes, less the styles)."""
    def cell(v: object) -> str:
        if isinstance(v, int | float):
            return (f'<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p>'
                    "</table:table-cell>")
        return f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}</text:p></table:table-cell>'

    body = "".join(f"<table:table-row>{''.join(cell(v) for v in row)}</table:table-row>" for row in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Hoja1">{body}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", manifest)
        for i in range(members):
            zf.writestr(f"extra/{i}.txt", "")
    return out.getvalue()


# An Excel binary workbook holding ROWS: nothing here writes XLSB, so it is a committed file (how it was made:
# tests/crm/data/README.md).
XLSB = Path(__file__).parent / "data" / "cuentas.xlsb"
ROWS = [["account_number", "name", "phone", "balance", "due_date"],
        ["A-1", "Lucía Gómez", "+34 611 000 001", 1500.5, datetime(2026, 3, 1)],
        ["A-2", "Mario Ruiz", "+34 611 000 002", 20, datetime(2026, 4, 15)]]


@pytest.mark.parametrize(("name", "make", "fmt"),
                         [("cuentas.xls", xls_bytes, "xls"), ("cuentas.ods", ods_bytes, "ods")])
async def test_old_excel_and_opendocument_uploads_show_their_columns(jobs, name, make, fmt):
    rows = ROWS if fmt == "xls" else [r[:4] for r in ROWS]
    up = await jobs.uploaded(name, make(rows))
    assert up["format"] == fmt
    assert up["columns"] == rows[0]
    assert up["sample"][0][:4] == ["A-1", "Lucía Gómez", "+34 611 000 001", 1500.5]
    if fmt == "xls":
        assert up["sample"][1][3:] == [20, "2026-04-15T00:00:00"]  # a whole number stays whole; a date is a date


@pytest.mark.parametrize(("name", "make"), [("cuentas.xls", xls_bytes), ("cuentas.ods", ods_bytes)])
async def test_an_account_import_reads_them(jobs, h, client, unique, name, make):
    camp = await h.put_campaign(CampaignSnapshot(id=f"wb-{unique}", name="Libros"))
    rows = [[f"{v}-{unique}" if i == 0 and r else v for i, v in enumerate(row[:3])] for r, row in enumerate(ROWS)]
    up = await jobs.uploaded(name, make(rows))
    job = await jobs.run("import_accounts", {"campaign_id": camp.id, "create_cases": True, "case_priority": "high"},
                         up["id"])
    assert job["status"] == "succeeded" and job["counts"] == {"created": 2}, job
    accounts = await (await client.get("/accounts", params={"campaign_id": camp.id})).json()
    assert sorted(a["number"] for a in accounts["items"]) == [f"A-1-{unique}", f"A-2-{unique}"]


async def test_an_excel_binary_workbook_is_read_and_imported(jobs, h, client, unique):
    up = await jobs.uploaded("cuentas.xlsb", XLSB.read_bytes())
    assert (up["format"], up["columns"]) == ("xlsb", ROWS[0])
    assert up["sample"] == [[*ROWS[1][:4], "2026-03-01T00:00:00"], [*ROWS[2][:4], "2026-04-15T00:00:00"]]
    camp = await h.put_campaign(CampaignSnapshot(id=f"xlsb-{unique}", name="Binario"))
    job = await jobs.run("import_accounts", {"campaign_id": camp.id}, up["id"])
    assert job["status"] == "succeeded" and job["counts"] == {"created": 2}, job
    accounts = (await (await client.get("/accounts", params={"campaign_id": camp.id})).json())["items"]
    assert {a["number"]: a["fields"] for a in accounts} == {
        "A-1": {"balance": 1500.5, "due_date": "2026-03-01"}, "A-2": {"balance": 20, "due_date": "2026-04-15"}}


def test_the_bounds_hold_for_every_format(tmp_path):
    limits = XlsxLimits(max_rows=2, max_columns=3, max_entries=5, max_cell_chars=10)
    cases = [
        ("rows.ods", ods_bytes([["a"], ["b"], ["c"]]), "ods", "rows"),
        ("wide.ods", ods_bytes([["a", "b", "c", "d"]]), "ods", "columns"),
        ("many.ods", ods_bytes([["a"]], members=10), "ods", "members"),
        ("long.xls", xls_bytes([["a" * 11]]), "xls", "characters"),
        ("broken.ods", b"PK\x03\x04 not a zip", "ods", "zip"),
        ("cuentas.xlsb", XLSB.read_bytes(), "xlsb", "members"),  # a 9-member zip, 5 allowed
    ]
    for name, data, fmt, words in cases:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(XlsxError, match=words):
            list(calamine.rows(str(path), fmt, limits))
    with pytest.raises(XlsxError, match="rows"):  # 3 rows, 2 allowed
        list(calamine.rows(str(XLSB), "xlsb", XlsxLimits(max_rows=2)))
    big = tmp_path / "big.xls"
    big.write_bytes(xls_bytes([["a"]]))
    with pytest.raises(XlsxError, match="MB"):
        calamine.check_container(str(big), "xls", XlsxLimits(max_in_memory_bytes=1000))
