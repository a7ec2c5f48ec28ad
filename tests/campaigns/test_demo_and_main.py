"""The demo tenant seed (idempotent, visible in the KV bucket) and ``python -m services.campaigns``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer

from libs.contracts import CampaignSnapshot
from libs.core import demo
from libs.devstack import free_port
from services.campaigns.app import create_app

from ..conftest import as_service

ROOT = Path(__file__).resolve().parents[2]


async def test_demo_seed_is_idempotent_and_published(make_settings: Any, kv_get: Any) -> None:
    settings = make_settings(demo_seed=True, conversation_consumer=False)
    async with TestClient(TestServer(create_app(settings)), **as_service("campaigns")) as client:
        resp = await client.get(f"/campaigns/{demo.CAMPAIGN_ID}")
        first = await resp.json()
    async with TestClient(TestServer(create_app(settings)), **as_service("campaigns")) as client:
        resp = await client.get(f"/campaigns/{demo.CAMPAIGN_ID}")
        again = await resp.json()
    assert again["version"] == first["version"]
    snap = CampaignSnapshot.model_validate(await kv_get(demo.CAMPAIGN_ID))
    assert snap.client_id == demo.CLIENT_ID and snap.project_id == demo.PROJECT_ID
    assert snap.status == "active" and snap.schedule is None
    assert [(c.id, c.type) for c in snap.channels] == [(demo.WHATSAPP_CHANNEL_ID, "whatsapp")]
    assert snap.agents == list(demo.AGENT_IDS) and snap.supervisors == ["sup-sofia"]
    assert snap.inactivity_typification == "inactive" and snap.transfer_typification == "transfer"
    assert "sale" in snap.closing_typifications
    sale = next(t for t in snap.typifications if t.id == "sale")
    assert (sale.category, sale.subcategory) == ("Venta", "Cerrada")
    # The demo's "refused when a required field is missing" path.
    assert snap.closure_problems("sale", {}) == [("fields.document_number", "required field 'Documento' is missing")]
    assert snap.closure_problems("sale", {"document_number": "123"}) == []


async def test_python_dash_m_runs_the_service(stack: Any) -> None:
    port = free_port()
    env = {**os.environ, **stack.env(), "SB_ENV": "test", "SB_CAMPAIGNS_PORT": str(port),
           "SB_CAMPAIGNS_CONVERSATION_CONSUMER": "false", "SB_SHUTDOWN_BUDGET_S": "4"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.campaigns", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        ready = False
        async with ClientSession(**as_service("campaigns")) as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            ready = True
                            break
                except OSError:
                    pass
                await asyncio.sleep(0.1)
            assert ready, "the service never became ready"
            async with http.get(f"http://127.0.0.1:{port}/openapi.json") as r:
                doc = await r.json()
            assert "/campaigns/{id}" in doc["paths"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
