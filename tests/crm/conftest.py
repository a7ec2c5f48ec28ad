"""CRM fixtures: one in-process CRM app on the session stack, a NATS session, and small helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from libs.contracts import CampaignSnapshot, Contract
from libs.core.service import LIFECYCLE
from libs.messaging import nats_session
from libs.storage import PG_POOL
from services.crm.app import create_app
from services.crm.handlers import Crm
from services.crm.keys import CRM
from services.crm.settings import CrmSettings

from ..conftest import as_service, as_user


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def crm_server(stack, crm_blob_dir) -> AsyncIterator[TestClient]:
    settings = CrmSettings(nats_url=stack.nats_url, redis_url=stack.redis_url, database_url=stack.database_url,
                           env="test", default_region="AR", blob_dir=str(crm_blob_dir),
                           email_channel_id="crm-test-email", job_poll_s=0.2, job_chunk_rows=500)
    app = create_app(settings)
    client = TestClient(TestServer(app), **as_service("crm"))
    await client.start_server()
    app[LIFECYCLE].ready = True
    try:
        yield client
    finally:
        await app[LIFECYCLE].drain(5)
        await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def js(stack) -> AsyncIterator[Any]:
    async with nats_session(stack.nats_url, "crm-tests") as (_, jsc):
        yield jsc


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def nc(stack) -> AsyncIterator[Any]:
    async with nats_session(stack.nats_url, "crm-tests-core", setup=False) as (conn, _):
        yield conn


@pytest_asyncio.fixture(loop_scope="session")
async def client(crm_server) -> TestClient:
    return crm_server


@pytest_asyncio.fixture(loop_scope="session")
async def crm(crm_server) -> Crm:
    app: web.Application = crm_server.server.app
    return app[CRM]


class Helpers:
    """Small helpers for CRM tests, reached through the ``h`` fixture (conftest is not importable)."""

    def __init__(self, js: Any, crm: Crm, pool: Any) -> None:
        self.js = js
        self.crm = crm
        self.pool = pool  # the CRM's own pool, for the tests' direct reads (the use cases see only units of work)

    def agent(self, user: str, role: str = "agent") -> dict[str, str]:
        """Headers of a call on behalf of a user, with the campaign scope the gateway would give them: the
        campaigns (known to the CRM) they work in, or supervise."""
        if role == "admin":
            return as_user("crm", user, role, None)
        snaps = self.crm.campaigns._by_id.values()
        scope = [c.id for c in snaps if user in (c.agents if role == "agent" else c.supervisors)]
        return as_user("crm", user, role, scope)

    @staticmethod
    async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
        """Poll ``check`` until it returns a truthy value (the CRM consumes asynchronously)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = await check()
            if result:
                return result
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not reached")
            await asyncio.sleep(0.05)

    async def put_campaign(self, snapshot: CampaignSnapshot) -> CampaignSnapshot:
        """Write a snapshot to the campaigns KV bucket and wait until the CRM has it."""
        kv = await self.js.key_value("campaigns")
        await kv.put(snapshot.id, snapshot.model_dump_json().encode())

        async def seen() -> bool:
            got = self.crm.campaigns.get(snapshot.id)
            return got is not None and got.version == snapshot.version

        await self.eventually(seen)
        return snapshot

    async def publish(self, event: Contract, msg_id: str | None = None) -> None:
        """Publish an event; a different ``msg_id`` bypasses JetStream's dedup, like a router re-publish."""
        await self.js.publish(event.subject(), event.model_dump_json().encode(),
                              headers={"Nats-Msg-Id": msg_id or event.msg_id()})


@pytest_asyncio.fixture(loop_scope="session")
async def pool(crm_server) -> Any:
    """The CRM app's PostgreSQL pool, for a test's direct reads."""
    return crm_server.server.app[PG_POOL]


@pytest_asyncio.fixture(loop_scope="session")
async def h(js, crm, pool) -> Helpers:
    return Helpers(js, crm, pool)


class Jobs:
    """Upload files, run bulk processes to the end, and read their outcome files."""

    def __init__(self, client: TestClient, h: Helpers) -> None:
        self.client = client
        self.h = h

    async def upload(self, filename: str, data: bytes, **params: str) -> Any:
        resp = await self.client.post("/imports", params={"filename": filename, **params}, data=data,
                                      headers={"Content-Type": "application/octet-stream",
                                               **as_user("crm", "sofia", "admin", None)})
        return resp

    async def uploaded(self, filename: str, data: bytes, **params: str) -> dict[str, Any]:
        resp = await self.upload(filename, data, **params)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def start(self, kind: str, params: dict[str, Any], upload_id: str | None = None, *,
                    dry_run: bool = False, user: str = "sofia", role: str = "admin") -> Any:
        body: dict[str, Any] = {"kind": kind, "params": params, "dry_run": dry_run}
        if upload_id:
            body["upload_id"] = upload_id
        # Processes over the whole contact base are an admin's (a supervisor's scope: tests/security).
        scope = None if role == "admin" else self.h.agent(user, role)
        headers = as_user("crm", user, role, None) if scope is None else scope
        return await self.client.post("/processes", json=body, headers=headers)

    async def run(self, kind: str, params: dict[str, Any], upload_id: str | None = None, **kw: Any
                  ) -> dict[str, Any]:
        resp = await self.start(kind, params, upload_id, **kw)
        assert resp.status == 202, await resp.text()
        job = await resp.json()
        return await self.finished(job["id"])

    async def finished(self, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
        async def done() -> Any:
            job = await (await self.client.get(f"/processes/{job_id}")).json()
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None

        return await self.h.eventually(done, timeout)

    async def outcome(self, job_id: str) -> list[dict[str, str]]:
        import csv
        import io

        resp = await self.client.get(f"/processes/{job_id}/outcome", params={"format": "csv"})
        assert resp.status == 200
        return list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))


@pytest_asyncio.fixture(loop_scope="session")
async def jobs(client, h) -> Jobs:
    return Jobs(client, h)
