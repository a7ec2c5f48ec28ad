"""The CRM's answers to the inputs schemathesis found (each was a 500 in the CRM, a 502 at the gateway), and to
their relatives: text PostgreSQL cannot store, and multipart forms that are not forms. Each is a 400 naming the
field, and nothing is stored."""

from __future__ import annotations

import base64
import json

import pytest

from ..conftest import as_user


def sofia() -> dict[str, str]:
    """Fresh headers for each call: a token made at import time would expire in a long session."""
    return as_user("crm", "sofia", "supervisor")


async def _error(resp) -> dict:
    assert resp.status == 400, (resp.status, await resp.text())
    return (await resp.json())["error"]


async def test_contact_search_with_a_nul_byte_names_q(client):
    # The exact query schemathesis sent: GET /contacts?q=%1E%C3%AC%00H%C3%9C
    resp = await client.get("/contacts?q=%1E%C3%AC%00H%C3%9C", headers=sofia())
    err = await _error(resp)
    assert err["field"] == "q" and "NUL" in err["message"]


@pytest.mark.parametrize("path", [
    "/contacts?phone=%00", "/cases?campaign_id=a%00b", "/search?q=%00", "/contacts/%00x",
    "/processes?kind=%00", "/contacts?x%00=1",
])
async def test_nul_anywhere_in_the_path_or_query_is_a_400(client, path):
    err = await _error(await client.get(path, headers=sofia()))
    assert err["field"] in ("phone", "campaign_id", "q", "path", "kind", "query")


async def test_bytes_that_are_not_utf8_in_the_request_line_are_a_400(client):
    # aiohttp decodes a raw request line with surrogateescape: \xff becomes a lone surrogate, which asyncpg
    # cannot encode. Sent on a raw socket, since no client library sends such bytes.
    import asyncio

    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /contacts?q=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    head = await reader.readline()
    writer.close()
    assert head.split()[1] == b"400", head


async def test_multipart_without_a_boundary_names_content_type(client):
    resp = await client.post("/imports", data=b"--x\r\n", headers={**sofia(), "Content-Type": "multipart/form-data"})
    err = await _error(resp)
    assert err["field"] == "Content-Type" and "boundary" in err["message"]


def _form(disposition: bytes, payload: bytes = b"name\r\nAna\r\n") -> bytes:
    return (b"--xx\r\nContent-Disposition: form-data; " + disposition + b"\r\nContent-Type: text/csv\r\n\r\n"
            + payload + b"\r\n--xx--\r\n")


@pytest.mark.parametrize(("disposition", "field"), [
    (b'name="\xff\xfe"; filename="a.csv"', "file"),            # a field name that is not UTF-8
    (b"name*=utf-8''%ED%A0%80; filename=\"a.csv\"", "file"),   # ... or a lone surrogate once decoded
    (b'name="fi\x00le"; filename="a.csv"', "file"),            # ... or with a NUL
    (b'name="file"; filename="\xff.csv"', "filename"),
    (b'name="file"; filename="a\x00.csv"', "file"),  # aiohttp refuses the header line itself
    (b"name=\"file\"; filename*=utf-8''%00.csv", "filename"),
])
async def test_form_part_names_that_are_not_text_name_the_field(client, disposition, field):
    resp = await client.post("/imports", data=_form(disposition),
                             headers={**sofia(), "Content-Type": "multipart/form-data; boundary=xx"})
    err = await _error(resp)
    assert err["field"] == field, err


async def test_broken_multipart_bodies_are_400s(client):
    for body in (b"no boundary anywhere", b"--xx\r\n\r\n--xx--\r\n", b"--xx--\r\n",
                 b"--xx\r\nContent-Disposition: form-data; name=\"file\"\r\nX: " + b"y" * 20_000 + b"\r\n\r\n--xx--"):
        resp = await client.post("/imports", data=body,
                                 headers={**sofia(), "Content-Type": "multipart/form-data; boundary=xx"})
        assert resp.status == 400, (body, resp.status, await resp.text())
        assert (await resp.json())["error"]["field"] == "file"


async def test_a_well_formed_form_still_uploads(client, unique):
    resp = await client.post("/imports", data=_form(f'name="file"; filename="ok-{unique}.csv"'.encode()),
                             headers={**sofia(), "Content-Type": "multipart/form-data; boundary=xx"})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["columns"] == ["name"]


async def test_json_bodies_with_nul_or_lone_surrogates_name_the_field(client, unique):
    for raw, field in ((b'{"name": "Ana\\u0000"}', "name"), (b'{"name": "x", "extra": {"a": ["\\ud800"]}}',
                                                            "extra.a[0]")):
        err = await _error(await client.post("/contacts", data=raw,
                                             headers={**sofia(), "Content-Type": "application/json"}))
        assert err["field"] == field, err
    deep = b"[" * 100_000 + b"]" * 100_000
    err = await _error(await client.post("/contacts", data=deep,
                                         headers={**sofia(), "Content-Type": "application/json"}))
    assert err["field"] == "body"


async def test_a_cursor_carrying_a_nul_is_refused(client):
    cursor = base64.urlsafe_b64encode(json.dumps(["2024-01-01T00:00:00+00:00", "a\x00"]).encode()).decode()
    err = await _error(await client.get("/contacts", params={"cursor": cursor}, headers=sofia()))
    assert err["field"] == "cursor"


async def test_an_upload_declaring_a_huge_sheet_is_a_400_naming_file(client):
    import io
    import zipfile

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", f'<workbook xmlns="{main}"><sheets><sheet name="A" sheetId="1"/></sheets>'
                                       "</workbook>")
        zf.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{main}"><dimension ref="A1:XFD1048576"/>'
                    '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row></sheetData>'
                    "</worksheet>")
    assert len(buf.getvalue()) < 2048
    resp = await client.post("/imports", params={"filename": "huge.xlsx"}, data=buf.getvalue(),
                             headers={**sofia(), "Content-Type": "application/octet-stream"})
    err = await _error(resp)
    assert err["field"] == "file" and "1,048,576" in err["message"], err
