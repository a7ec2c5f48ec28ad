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
    async with TestClient(TestServer(_app())) as client:
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

    async with TestClient(TestServer(app)) as client:
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
