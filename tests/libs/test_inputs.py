"""libs.core.inputs: the one place hostile text and hostile forms become a 400 naming the field, for every service
built on ``create_base_app``."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic_settings import SettingsConfigDict

from libs.core.errors import Invalid
from libs.core.inputs import json_text_problem, loads_json, read_upload
from libs.core.service import create_base_app, read_json
from libs.core.settings import ServiceSettings
from libs.core.validation import may_hold_unstorable

from ..conftest import as_service


class InputSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SB_INPUT_SVC_", extra="ignore")


def _app() -> web.Application:
    app = create_base_app(InputSettings())

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"body": await read_json(request), "query": dict(request.query)})

    async def upload(request: web.Request) -> web.Response:
        up = await read_upload(request)
        size = 0
        async for chunk in up.chunks:
            size += len(chunk)
        return web.json_response({"filename": up.filename, "media_type": up.media_type, "size": size})

    app.router.add_post("/echo/{name}", echo)
    app.router.add_post("/upload", upload)
    return app


@pytest.fixture
async def client():
    async with TestClient(TestServer(_app()), **as_service("switchboard")) as c:
        yield c


def test_loads_json_names_the_path_of_unstorable_text():
    assert loads_json(b'{"a": "\\u00e9"}') == {"a": "é"}
    cases = {b'"\\u0000"': "body", b'{"a": {"b": [1, "x\\u0000"]}}': "a.b[1]", b'[{"k": "\\udfff"}]': "body[0].k",
             b'{"bad\\u0000key": 1}': "body"}
    for raw, field in cases.items():
        with pytest.raises(Invalid) as info:
            loads_json(raw)
        assert info.value.field == field, (raw, info.value.field)
    with pytest.raises(Invalid) as info:
        loads_json(b"[" * 200_000 + b"]" * 200_000)
    assert info.value.field == "body" and "deeply" in info.value.message


def test_only_a_body_with_an_escape_can_decode_to_unstorable_text():
    # The webhooks skip the per-item text walk when may_hold_unstorable is false: that is sound only because
    # a raw NUL or a surrogate's bytes never decode (the decoder or strict UTF-8 refuse them; json.loads alone
    # let the surrogate's bytes through).
    assert may_hold_unstorable(b'{"a": "x\\u0000"}') and may_hold_unstorable(b'["\\udfff"]')
    assert not may_hold_unstorable('{"a": "é ñ 😀"}'.encode())
    for raw in (b'{"a": "x\x00"}', b'{"a": "\xed\xa0\x80"}', b'{"a\x00": 1}'):
        assert not may_hold_unstorable(raw)
        with pytest.raises(Invalid):
            loads_json(raw, storable=False)


def test_the_walk_needs_no_stack_for_deep_documents():
    doc: object = "ok"
    for _ in range(50_000):
        doc = [doc]
    assert json_text_problem(doc) is None


async def test_middleware_refuses_nul_in_any_service_path_or_query(client):
    for url, field in (("/echo/a%00?x=1", "path"), ("/echo/a?x=%00", "x"), ("/echo/a?%00=1", "query")):
        resp = await client.post(url, json={})
        assert resp.status == 400, url
        assert (await resp.json())["error"]["field"] == field
    resp = await client.post("/echo/a?x=%C3%A9", json={"ok": True})
    assert resp.status == 200 and (await resp.json())["query"] == {"x": "é"}


async def test_a_body_with_a_surrogate_s_bytes_is_a_400_not_text_for_the_database(client):
    # The UTF-8 bytes of U+D800: not UTF-8 (RFC 3629), and not an escape either, so no text walk would see it.
    json_type = {"Content-Type": "application/json"}
    resp = await client.post("/echo/a", data=b'{"name": "\xed\xa0\x80"}', headers=json_type)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "body"
    resp = await client.post("/echo/a", data='\ufeff{"name": "Núñez"}'.encode(), headers=json_type)
    assert resp.status == 200 and (await resp.json())["body"] == {"name": "Núñez"}  # a BOM is still read


async def test_uploads_raw_body_and_form(client):
    resp = await client.post("/upload?filename=a.csv", data=b"x" * 200_000,
                             headers={"Content-Type": "text/csv"})
    assert await resp.json() == {"filename": "a.csv", "media_type": "text/csv", "size": 200_000}
    form = (b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="r.xlsx"\r\n'
            b"Content-Type: application/vnd.ms-excel\r\n\r\n" + b"y" * 1000 + b"\r\n--b--\r\n")
    resp = await client.post("/upload", data=form, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert await resp.json() == {"filename": "r.xlsx", "media_type": "application/vnd.ms-excel", "size": 1000}


async def test_too_many_parts_before_the_file(client):
    parts = b"".join(b'--b\r\nContent-Disposition: form-data; name="n%d"\r\n\r\nv\r\n' % i for i in range(40))
    resp = await client.post("/upload", data=parts + b"--b--\r\n",
                             headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status == 400 and "parts" in (await resp.json())["error"]["message"]


pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.multipart.BadContentDispositionHeader",
                                    "ignore::aiohttp.multipart.BadContentDispositionParam")

HEADER_BYTES = st.binary(max_size=60) | st.sampled_from([
    b'name="file"; filename="a.csv"', b"name*=utf-8''%FF", b"name*=x''file", b'name="\xff"', b"filename*=''",
    b'name="file"; filename*=utf-16\'\'%FF%FE%00', b"name=file; name=file", b'name="fi\r\nle"'])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(disposition=HEADER_BYTES, ctype=st.sampled_from([b"text/csv", b"", b"\xff/\xfe", b"a;b=\x00"]),
       boundary=st.sampled_from(["b", "", '"b"', "b" * 80, "\u00e9"]), tail=st.binary(max_size=40))
async def test_fuzzed_forms_never_crash(client, disposition, ctype, boundary, tail):
    body = (b"--b\r\nContent-Disposition: form-data; " + disposition + b"\r\nContent-Type: " + ctype
            + b"\r\n\r\ndata\r\n--b--\r\n" + tail)
    try:
        header = f"multipart/form-data; boundary={boundary}".encode().decode("latin-1")
    except UnicodeError:
        return
    resp = await client.post("/upload", data=body, headers={"Content-Type": header})
    assert resp.status < 500, (disposition, ctype, boundary, await resp.text())
    if resp.status == 400:
        assert (await resp.json())["error"]["field"] in ("file", "filename", "Content-Type", "file.Content-Type")
