"""WebSocket fan-out benchmark: N concurrent clients on one gateway process, p99 from publish to the user.

Starts one gateway (``python -m services.gateway``) on an embedded stack (or the ``SB_*_URL`` servers),
opens ``--clients`` WebSockets as distinct agents (tokens minted with the gateway's secret), then publishes
``--rounds`` conversation events per agent to NATS and measures, for each event, the time from just
before the JetStream publish to its arrival on that agent's socket. Prints p50/p99/max and losses.

    python -m bench.ws --clients 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench._common import KEYS
from libs.contracts import ConversationMessage
from libs.devstack import DevStack, free_port
from libs.messaging import nats_session, publish
from services.gateway.domain import Principal
from services.gateway.security import TokenIssuer

SECRET = "bench-ws-secret-of-at-least-32-characters"


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.returncode is not None:
                raise SystemExit("the gateway exited during startup")
            try:
                async with http.get(f"{url}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the gateway never became ready")


async def run(clients: int, rounds: int, env: dict[str, str]) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gw_env = {**os.environ, **env, **KEYS.env(), "SB_ENV": "production", "SB_LOG_LEVEL": "warning",
              "SB_GATEWAY_PORT": str(port), "SB_GATEWAY_JWT_SECRET": SECRET}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.gateway", env=gw_env,
                                                preexec_fn=_raise_fd_limit)
    try:
        await _wait_ready(url, proc)
        issuer = TokenIssuer(SECRET, "switchboard", 3600, 3600)
        run_id = os.urandom(4).hex()
        agents = [f"bench-{run_id}-{i}" for i in range(clients)]
        sent_at: dict[str, float] = {}
        latencies: list[float] = []
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            sockets = []
            for start in range(0, clients, 200):  # open in batches so the handshakes do not time out
                batch = [http.ws_connect(f"{url}/api/v1/events", heartbeat=None, headers={
                    "Authorization": f"Bearer {issuer.issue(Principal(a, a, 'agent'), 'access')}"})
                         for a in agents[start:start + 200]]
                sockets += await asyncio.gather(*batch)
            for ws in sockets:  # each says ready once registered
                assert json.loads((await ws.receive()).data)["type"] == "ready"
            print(f"{clients} WebSockets connected")

            async def reader(ws: aiohttp.ClientWebSocketResponse) -> None:
                async for msg in ws:
                    event = json.loads(msg.data)
                    if event.get("type") == "conversation.message":
                        latencies.append(time.perf_counter() - sent_at[event["message_id"]])

            readers = [asyncio.create_task(reader(ws)) for ws in sockets]
            env_nats = env.get("SB_NATS_URL", "")
            async with nats_session(env_nats, "bench-ws") as (_, js):
                for r in range(rounds):
                    for i, agent in enumerate(agents):
                        mid = f"{run_id}-{r}-{i}"
                        event = ConversationMessage(conversation_id=f"c-{run_id}-{i}", channel_id="bench",
                                                    channel_type="whatsapp", contact_address="+1", agent_id=agent,
                                                    message_id=mid, text="x", seq=r + 1)
                        sent_at[mid] = time.perf_counter()
                        await publish(js, event)
            expected = clients * rounds
            deadline = time.perf_counter() + 30
            while len(latencies) < expected and time.perf_counter() < deadline:
                await asyncio.sleep(0.1)
            for ws in sockets:
                await ws.close()
            for task in readers:
                task.cancel()
        ms = sorted(x * 1000 for x in latencies)
        if not ms:
            raise SystemExit("no event arrived")
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(f"events: {expected} published, {len(ms)} delivered, {expected - len(ms)} lost")
        print(f"fan-out latency ms: p50 {statistics.median(ms):.1f}  p99 {p99:.1f}  max {ms[-1]:.1f}  "
              f"(target p99 < 50 ms: {'met' if p99 < 50 else 'NOT met'})")
    finally:
        proc.terminate()
        await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _raise_fd_limit()
    urls = {k: os.environ[k] for k in ("SB_NATS_URL", "SB_REDIS_URL", "SB_DATABASE_URL") if os.environ.get(k)}
    if len(urls) == 3:
        asyncio.run(run(args.clients, args.rounds, urls))
        return
    folder = Path(tempfile.mkdtemp(prefix="sb-bench-ws-"))
    os.chmod(folder, 0o755)
    stack = DevStack(folder)
    info = stack.start()
    try:
        asyncio.run(run(args.clients, args.rounds, info.env()))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
