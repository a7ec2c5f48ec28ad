"""Security tests share the gateway fixtures (an in-process gateway on the session stack, local peers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from libs.core.service import LIFECYCLE
from services.gateway.settings import GatewaySettings

from ..gateway.conftest import (  # noqa: F401  (fixtures)
    gateway,
    gw_client,
    make_user,
    password_hash,
    router_peer,
    services_peer,
)


async def raw_request(host: str, port: int, method: str, target: str, headers: dict[str, str] | None = None
                      ) -> tuple[int, Any]:
    """One HTTP/1.1 request written byte for byte (no client library re-encodes or normalizes the
    target); returns the status and the JSON body (or the text)."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items()), "", ""]
    writer.write("\r\n".join(lines).encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("latin-1")


# --- the whole platform in-process: the gateway in front of the REAL campaigns, channels, CRM and router ---


@dataclass
class Platform:
    """A gateway whose every upstream is the real service (in-process on the session stack), and the
    services' own clients (their internal ports) for calls that bypass the gateway."""

    gateway: TestClient
    services: dict[str, TestClient]
    apps: list[tuple[web.Application, TestClient]] = field(default_factory=list)

    def service(self, name: str) -> TestClient:
        return self.services[name]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platform(stack: Any, tmp_path_factory: pytest.TempPathFactory, crm_blob_dir: Path
                   ) -> AsyncIterator[Platform]:
    """Per module, never left running: its router shares the durable ``router-inbound`` (and its Redis keys)
    with every other router of the session, and would take their messages."""
    from services.campaigns.app import create_app as campaigns
    from services.campaigns.settings import CampaignsSettings
    from services.channels.app import ADMIN_APP
    from services.channels.app import create_app as channels
    from services.channels.settings import ChannelsSettings
    from services.crm.app import create_app as crm
    from services.crm.settings import CrmSettings
    from services.gateway.app import create_app as gateway_app
    from services.router.app import ROUTER_READY
    from services.router.app import create_app as router
    from services.router.settings import RouterSettings

    common: dict[str, Any] = {"env": "test", "nats_url": stack.nats_url, "redis_url": stack.redis_url,
                              "database_url": stack.database_url}
    routing = router(RouterSettings(**common, log_level="warning"))
    built: list[tuple[str, web.Application]] = [
        ("router", routing),
        ("campaigns", campaigns(CampaignsSettings(**common, conversation_consumer=False))),
        ("crm", crm(CrmSettings(**common, default_region="ES", job_poll_s=0.2,
                                blob_dir=str(crm_blob_dir)))),
    ]
    p = Platform(gateway=None, services={})  # type: ignore[arg-type]
    try:
        for i, (name, app) in enumerate(built):
            client = TestClient(TestServer(app, host="127.0.0.1"))
            await client.start_server()
            app[LIFECYCLE].ready = True
            p.services[name] = client
            p.apps.append((app, client))
            if name == "router":  # channels asks the router about a channel's open conversations
                chan = channels(ChannelsSettings(**common, smtp_enabled=False, outbound_consumer=False,
                                                 blob_dir=tmp_path_factory.mktemp("sec-chan"),
                                                 router_url=str(client.make_url("")).rstrip("/")))
                built[i + 1:i + 1] = [("channels-public", chan), ("channels", chan[ADMIN_APP])]
        await asyncio.wait_for(routing[ROUTER_READY].wait(), 90)  # its start-up rebuild reads the whole stream
        url = {name: str(c.make_url("")).rstrip("/") for name, c in p.services.items()}
        settings = GatewaySettings(env="test", nats_url=stack.nats_url, redis_url=stack.redis_url,
                                   database_url=stack.database_url, router_url=url["router"],
                                   campaigns_url=url["campaigns"], crm_url=url["crm"],
                                   channels_url=url["channels"], demo_seed=False,
                                   login_ip_per_minute=1_000_000)  # every role's logins come from 127.0.0.1
        p.gateway = TestClient(TestServer(gateway_app(settings), host="127.0.0.1"))
        await p.gateway.start_server()
        yield p
    finally:
        if p.gateway is not None:
            await p.gateway.close()
        for app, client in reversed(p.apps):
            await app[LIFECYCLE].drain(5)
            await client.close()
