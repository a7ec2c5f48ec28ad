"""End-to-end fixtures: services run as real subprocesses (``python -m services.<name>``) on free ports."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from libs.devstack import StackInfo, free_port
from libs.devstack.sandbox import SENT, create_sandbox
from libs.devstack.services import ServiceProcess


class Platform:
    """The services of one end-to-end test, sharing the session's real stack."""

    def __init__(self, stack: StackInfo, tmp: Path, graph_url: str, crm_blobs: Path) -> None:
        self.stack, self.tmp = stack, tmp
        self.ports = {n: free_port() for n in ("gateway", "channels", "router", "scheduler", "campaigns", "crm")}
        self.env = {**os.environ, **stack.env(), "SB_ENV": "test", "SB_DEMO_SEED": "true",
                    "SB_CHANNELS_GRAPH_BASE_URL": graph_url, "SB_CHANNELS_SMTP_PORT": str(free_port()),
                    "SB_CHANNELS_BLOB_DIR": str(tmp / "blobs"), "SB_CRM_BLOB_DIR": str(crm_blobs),
                    "SB_SHUTDOWN_BUDGET_S": "10", "PYTHONUNBUFFERED": "1",
                    "SB_GATEWAY_METRICS_PORT": str(free_port())}
        for name, port in self.ports.items():
            self.env[f"SB_{name.upper()}_PORT"] = str(port)
            self.env[f"SB_GATEWAY_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
        # channels: the webhooks are public, its admin API (which the gateway calls) has its own port.
        self.admin_ports = {"channels": free_port()}
        self.env["SB_CHANNELS_ADMIN_PORT"] = str(self.admin_ports["channels"])
        self.env["SB_GATEWAY_CHANNELS_URL"] = self.admin_url("channels")
        self.env["SB_CHANNELS_ROUTER_URL"] = self.url("router")  # a channel's open conversations
        self.procs: dict[str, ServiceProcess] = {}

    async def start(self, *names: str) -> None:
        for name in names:
            proc = ServiceProcess(name, self.env, self.ports[name], self.tmp)
            self.procs[name] = proc
            await proc.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def admin_url(self, name: str) -> str:
        """The internal API of a service that serves it on its own port (channels)."""
        return f"http://127.0.0.1:{self.admin_ports[name]}"

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.procs.values()))

    def logs(self) -> str:
        return "\n".join(f"==== {n}\n{p.log()[-3000:]}" for n, p in self.procs.items())


@pytest.fixture
async def graph_peer() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A local Graph-API peer that records every send."""
    app = create_sandbox()
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", app[SENT]
    await runner.cleanup()


@pytest.fixture
async def platform(stack: StackInfo, tmp_path: Path, graph_peer, crm_blob_dir: Path) -> AsyncIterator[Platform]:
    os.chmod(tmp_path, 0o755)
    p = Platform(stack, tmp_path, graph_peer[0], crm_blob_dir)
    try:
        yield p
    finally:
        await p.stop()
