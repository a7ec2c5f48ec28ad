"""libs.core: error shape, health and readiness, graceful shutdown of background work, settings."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic_settings import SettingsConfigDict

from libs.core.errors import Invalid, NotFound, StreamAction, Transient
from libs.core.service import LIFECYCLE, create_base_app, read_json
from libs.core.settings import ServiceSettings

from ..conftest import as_service


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SB_DEMO_SVC_", extra="ignore")
    port: int = 9999


def _app() -> web.Application:
    app = create_base_app(DemoSettings())

    async def echo(request: web.Request) -> web.Response:
        body = await read_json(request)
        if "name" not in body:
            raise Invalid("name is required", field="name")
        return web.json_response(body)

    async def missing(request: web.Request) -> web.Response:
        raise NotFound("no such thing")

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app.router.add_post("/echo", echo)
    app.router.add_get("/missing", missing)
    app.router.add_get("/crash", crash)
    return app


async def test_errors_share_one_json_shape():
    async with TestClient(TestServer(_app()), **as_service("switchboard")) as client:
        r = await client.post("/echo", data=b"{oops")
        assert r.status == 400
        body = await r.json()
        assert body["error"]["code"] == "invalid" and body["error"]["field"] == "body"
        r = await client.post("/echo", json={"x": 1})
        assert (await r.json())["error"] == {"code": "invalid", "message": "name is required", "field": "name"}
        r = await client.get("/missing")
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
        r = await client.get("/nope")
        assert r.status == 404 and "error" in await r.json()
        r = await client.get("/crash")
        assert r.status == 500 and "secret" not in await r.text()


async def test_readiness_follows_lifecycle_and_shutdown_waits_for_work_in_hand():
    app = _app()
    finished: list[str] = []

    async def worker() -> None:
        lc = app[LIFECYCLE]
        while not lc.stopping.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the message in hand
        finished.append("done")

    async with TestClient(TestServer(app), **as_service("switchboard")) as client:
        lc = app[LIFECYCLE]
        assert (await client.get("/readyz")).status == 503
        lc.ready = True
        assert (await client.get("/readyz")).status == 200
        assert (await client.get("/healthz")).status == 200
        lc.spawn(worker(), name="worker")
        drain = asyncio.create_task(lc.drain(5))
        await asyncio.sleep(0.05)
        assert (await client.get("/readyz")).status == 503
        await drain
        assert finished == ["done"]


async def test_drain_budget_cancels_work_that_overruns():
    app = _app()
    lc = app[LIFECYCLE]

    async def stuck() -> None:
        await asyncio.sleep(60)

    task = lc.spawn(stuck(), name="stuck")
    await lc.drain(0.2)
    assert task.cancelled()


def test_errors_map_to_stream_actions():
    assert Invalid("x").action is StreamAction.TERM and Invalid("x").status == 400
    assert Transient("x").action is StreamAction.NAK and Transient("x").status == 503


def test_settings_read_prefix_and_shared_urls(monkeypatch):
    monkeypatch.setenv("SB_DEMO_SVC_PORT", "7001")
    monkeypatch.setenv("SB_NATS_URL", "nats://elsewhere:4222")
    monkeypatch.setenv("SB_ENV", "production")
    s = DemoSettings()
    assert (s.port, s.nats_url, s.env) == (7001, "nats://elsewhere:4222", "production")
    monkeypatch.setenv("SB_DEMO_SVC_PORT", "not-a-port")
    with pytest.raises(Exception, match="port"):
        DemoSettings()


# ---- the validation kit: one field-path format, one body parser, one list shape ----------------------

def test_field_paths_are_written_one_way():
    from libs.core.validation import field_path

    assert field_path(("tabs", 0, "url_template")) == "tabs[0].url_template"
    assert field_path(("weekly", "1", 0, "end")) == "weekly.1[0].end"
    assert field_path(("phones", 1)) == "phones[1]"
    assert field_path(("messaging", 0, "sender"), "entry[0]") == "entry[0].messaging[0].sender"
    assert field_path(("x", "function-after[check(), str]", "y")) == "x.y"  # pydantic's branch names go


def test_parse_body_names_the_field_of_every_problem():
    from pydantic import Field, model_validator

    from libs.core.validation import Strict, blame, parse_body

    class Item(Strict):
        sku: str = Field(min_length=1)

    class Order(Strict):
        BODY_FIELD = "items"
        items: list[Item] = Field(default_factory=list)
        note: str | None = None

        @model_validator(mode="after")
        def _rules(self) -> Order:
            if self.note == "blame":
                raise blame("note", "not this note")
            if not self.items:
                raise ValueError("an order needs items")
            return self

    with pytest.raises(Invalid) as bad:
        parse_body(Order, {"items": [{"sku": "a"}, {"sku": ""}], "extra": 1})
    assert bad.value.field == "items[1].sku"
    assert [d["field"] for d in bad.value.details] == ["items[1].sku", "extra"]
    assert bad.value.details[1]["message"] == "unknown field"
    with pytest.raises(Invalid) as bad:
        parse_body(Order, {"items": [{"sku": "a"}], "note": "blame"})
    assert (bad.value.field, bad.value.message) == ("note", "note: not this note")
    with pytest.raises(Invalid) as bad:
        parse_body(Order, {})
    assert (bad.value.field, bad.value.message) == ("items", "items: an order needs items")
    with pytest.raises(Invalid) as bad:
        parse_body(Item, {"sku": "a\x00b"})
    assert bad.value.field == "sku" and "NUL" in bad.value.message
    with pytest.raises(Invalid) as bad:
        parse_body(Item, [1], prefix="params")
    assert bad.value.field == "params"
    with pytest.raises(Invalid) as bad:
        parse_body(Item, {"sku": ""}, prefix="params")
    assert bad.value.field == "params.sku"
    assert parse_body(Item, {"sku": " x "}).sku == "x"


def test_list_pages_carry_a_cursor_until_the_last_one():
    from datetime import UTC, datetime

    from libs.core.validation import decode_cursor, page_of, parse_limit

    rows = [{"id": f"r{i}", "at": datetime(2025, 1, 1, i, tzinfo=UTC)} for i in range(3)]
    full = page_of(rows, 3, lambda r: (r["at"], r["id"]))
    assert full["items"] == rows and decode_cursor(full["next_cursor"], (datetime, str)) == [rows[2]["at"], "r2"]
    assert page_of(rows[:2], 3, lambda r: (r["id"],)) == {"items": rows[:2], "next_cursor": None}
    with pytest.raises(Invalid) as bad:
        decode_cursor("not-a-cursor", (str,))
    assert bad.value.field == "cursor"
    with pytest.raises(Invalid) as bad:
        parse_limit("0")
    assert bad.value.field == "limit"


async def test_respond_encodes_dates_models_and_decimals_one_way():
    import json
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from pydantic import BaseModel

    from libs.core.http import respond, settings_of

    class Point(BaseModel):
        at: datetime

    at = datetime(2025, 5, 1, 12, tzinfo=UTC)
    resp = respond({"at": at, "day": date(2025, 5, 1), "p": Point(at=at), "n": Decimal("1.5"), "s": ("á",)})
    assert json.loads(resp.body) == {"at": "2025-05-01T12:00:00+00:00", "day": "2025-05-01",
                                     "p": {"at": "2025-05-01T12:00:00Z"}, "n": 1.5, "s": ["á"]}
    app = create_base_app(DemoSettings())
    assert settings_of(app, DemoSettings).port == 9999

    class OtherSettings(ServiceSettings):
        pass

    with pytest.raises(TypeError):
        settings_of(app, OtherSettings)


async def test_a_dependency_that_is_down_answers_503_not_500(unused_tcp_port):
    """A real Redis client and a real PostgreSQL driver pointed at a port nobody listens on: the request meets the
    drivers' own connection errors and answers 503 with Retry-After (a restart is not a bug); any other error
    still answers 500."""
    import asyncpg
    import redis.asyncio as aioredis

    app = create_base_app(DemoSettings())

    async def cache(request: web.Request) -> web.Response:
        client = aioredis.Redis(port=unused_tcp_port, socket_connect_timeout=1)
        try:
            return web.json_response({"v": await client.get("x")})
        finally:
            await client.aclose()

    async def db(request: web.Request) -> web.Response:
        conn = await asyncpg.connect(f"postgresql://u@127.0.0.1:{unused_tcp_port}/d", timeout=2)
        return web.json_response({"v": await conn.fetchval("SELECT 1")})

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app.router.add_get("/cache", cache)
    app.router.add_get("/db", db)
    app.router.add_get("/crash", crash)
    async with TestClient(TestServer(app), **as_service("switchboard")) as client:
        for path in ("/cache", "/db"):
            r = await client.get(path)
            assert r.status == 503, (path, await r.text())
            assert r.headers["Retry-After"] == "1"
            assert (await r.json())["error"]["code"] == "unavailable"
        r = await client.get("/crash")
        assert r.status == 500 and (await r.json())["error"]["code"] == "internal"
