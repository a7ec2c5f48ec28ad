"""Fixtures for the campaigns service: the app in-process against the session's real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from nats.js.errors import KeyNotFoundError

from libs.devstack import StackInfo
from libs.storage import PG_POOL
from services.campaigns.app import create_app
from services.campaigns.settings import CampaignsSettings

from ..conftest import as_service, as_user


def admin_headers() -> dict[str, str]:
    """An admin's internal token, fresh for each call (one made at import time would expire)."""
    return as_user("campaigns", "admin-test", "admin", None)


def campaigns_settings(stack: StackInfo, **overrides: Any) -> CampaignsSettings:
    values: dict[str, Any] = {"nats_url": stack.nats_url, "redis_url": stack.redis_url,
                              "database_url": stack.database_url, "env": "test", "outbox_interval_s": 0.5}
    return CampaignsSettings(**{**values, **overrides})


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api(stack: StackInfo) -> AsyncIterator[TestClient]:
    """One campaigns app for the test session."""
    app = create_app(campaigns_settings(stack))
    async with TestClient(TestServer(app), **as_service("campaigns")) as client:
        yield client


@pytest.fixture
def pool(api: TestClient) -> Any:
    """The app's PostgreSQL pool, for a test that reads or edits rows behind the service's back."""
    return api.app[PG_POOL]


async def call(api: TestClient, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
               expect: int | None = None) -> tuple[int, Any]:
    """One request as admin (unless other headers are given); returns (status, JSON or None)."""
    kwargs: dict[str, Any] = {"headers": admin_headers() if headers is None else headers}
    if body is not None:
        kwargs["data"] = body if isinstance(body, bytes | str) else json.dumps(body)
    resp = await api.request(method, path, **kwargs)
    data = await resp.json() if resp.content_type == "application/json" else None
    if expect is not None:
        assert resp.status == expect, (resp.status, data)
    return resp.status, data


@pytest.fixture
def http(api: TestClient) -> Callable[..., Awaitable[tuple[int, Any]]]:
    async def do(method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return await call(api, method, path, body, **kw)

    return do


@pytest.fixture
async def world(api: TestClient, unique: str) -> dict[str, str]:
    """A client, a project, typifications and a catalog field of our own."""
    u = unique
    await call(api, "POST", "/clients", {"id": f"cli-{u}", "name": f"Client {u}"}, expect=201)
    await call(api, "POST", "/projects", {"id": f"prj-{u}", "client_id": f"cli-{u}", "name": "Sales"}, expect=201)
    for tid, cat, sub in ((f"sale-{u}", f"Venta {u}", "Cerrada"), (f"nosale-{u}", f"No interesado {u}", None),
                          (f"idle-{u}", f"Inactividad {u}", None), (f"xfer-{u}", f"Transferencia {u}", None),
                          (f"ignore-{u}", f"Ignorar {u}", None)):
        await call(api, "POST", "/typifications", {"id": tid, "category": cat, "subcategory": sub}, expect=201)
    await call(api, "POST", "/fields", {"key": f"doc_{u}", "label": "Documento"}, expect=201)
    return {"client": f"cli-{u}", "project": f"prj-{u}", "sale": f"sale-{u}", "nosale": f"nosale-{u}",
            "idle": f"idle-{u}", "xfer": f"xfer-{u}", "ignore": f"ignore-{u}", "field": f"doc_{u}", "u": u}


def campaign_body(world: dict[str, str], **extra: Any) -> dict[str, Any]:
    u = world["u"]
    body: dict[str, Any] = {
        "id": f"cmp-{u}", "client_id": world["client"], "project_id": world["project"], "name": f"Campaign {u}",
        "channels": [{"id": f"wa-{u}", "type": "whatsapp"}],
        "closing_typifications": [world["sale"], world["nosale"]],
        "inactivity_typification": world["idle"], "inactivity_timeout_s": 600,
        "transfer_typification": world["xfer"],
        "custom_fields": [{"key": world["field"], "required": True, "label": "Documento"}],
        "agents": [f"agent-{u}"], "supervisors": [f"sup-{u}"],
    }
    body.update(extra)
    return body


async def kv_value(js: Any, key: str, bucket: str = "campaigns") -> dict[str, Any] | None:
    kv = await js.key_value(bucket)
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return json.loads(entry.value)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy; the bound only stops a hung test."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


@pytest.fixture
def body(world: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """``body(**overrides)``: a valid campaign body on our own world."""
    return lambda **extra: campaign_body(world, **extra)


@pytest.fixture
def kv_get(nats_js: tuple[Any, Any]) -> Callable[..., Awaitable[dict[str, Any] | None]]:
    """``await kv_get(key)``: the JSON in the ``campaigns`` bucket, or None."""
    _, js = nats_js
    return lambda key, bucket="campaigns": kv_value(js, key, bucket)


@pytest.fixture
def until() -> Callable[..., Awaitable[Any]]:
    return eventually


@pytest.fixture
def make_settings(stack: StackInfo) -> Callable[..., CampaignsSettings]:
    return lambda **overrides: campaigns_settings(stack, **overrides)
