"""Router decision benchmark: assignments/s, and the p99 of one atomic decision with a small and a large state.

Each decision is one Lua script on a real Redis (the embedded ``redis-server`` of ``libs.devstack``, or
``SB_REDIS_URL``): a close that frees an agent and assigns the head of the queue to them, and a new
conversation that joins a queue nobody has room for. The cost must stay flat from 10 agents / 100 queued to
10,000 agents / 100,000 queued (target: p99 ratio at most 1.5).

    python -m bench.router_assign [--large-agents 10000 --large-queued 100000 --ops 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import deque
from typing import Any

from libs.devstack import DevStack
from libs.storage import connect_redis
from services.router.adapters.redis import RouterStore
from services.router.domain import routing_config

CAMPAIGN = "bench-campaign"
CHANNEL = "bench-ch"


def _campaign(agents: int) -> tuple[dict[str, Any], str]:
    from libs.contracts import CampaignSnapshot

    snap = CampaignSnapshot(id=CAMPAIGN, name="bench", channels=[{"id": CHANNEL, "type": "whatsapp"}],  # type: ignore[list-item]
                            agents=[f"a{i}" for i in range(agents)], routing={"agent_capacity": 1})  # type: ignore[arg-type]
    return routing_config(snap)


class Scenario:
    def __init__(self, redis: Any, agents: int, queued: int) -> None:
        self.store = RouterStore(redis, f"bench:{uuid.uuid4().hex[:8]}:")
        self.agents, self.queued = agents, queued
        self.n = 0
        self.assigned: deque[tuple[str, str]] = deque()

    async def _ingest(self) -> float:
        self.n += 1
        msg = json.dumps({"direction": "in", "message_id": f"m{self.n}", "text": "hola", "kind": "message"})
        t0 = time.perf_counter()
        await self.store.run("ingest", msg_id=f"in:{CHANNEL}:{self.n}", cid=f"c{self.n}", channel=CHANNEL,
                             ctype="whatsapp", contact=f"+{self.n}", campaign=CAMPAIGN, msg=msg, mode="queue",
                             prio=0, weight=1, kind="message", dedup_ttl_ms=3_600_000)
        return time.perf_counter() - t0

    async def _parallel(self, coros: list[Any], width: int = 16) -> None:
        sem = asyncio.Semaphore(width)

        async def one(c: Any) -> None:
            async with sem:
                await c

        for start in range(0, len(coros), 20_000):
            await asyncio.gather(*(one(c) for c in coros[start:start + 20_000]))
            await self.store.r.delete(self.store.p + "outbox")

    async def setup(self) -> None:
        await self.store.set_epoch()
        cfg, digest = _campaign(self.agents)
        await self.store.run("sync", campaign=CAMPAIGN, ver=1, digest=digest, cfg=cfg,
                             agents=[f"a{i}" for i in range(self.agents)])
        await self._parallel([self.store.run("presence", agent=f"a{i}", status="available")
                              for i in range(self.agents)])
        await self._parallel([self._ingest() for _ in range(self.agents + self.queued)])
        pipe = self.store.r.pipeline(transaction=False)
        for i in range(self.agents):
            pipe.smembers(self.store.key("aconv", f"a{i}"))
        for i, convs in enumerate(await pipe.execute()):
            self.assigned.extend((cid, f"a{i}") for cid in convs)
        q = await self.store.r.zcard(self.store.key("q", CAMPAIGN))
        print(f"  state: {self.agents:,} agents busy, {q:,} queued", file=sys.stderr, flush=True)

    async def close_and_assign(self) -> float:
        """One decision: close a conversation; its agent gets the head of the queue in the same script."""
        cid, agent = self.assigned.popleft()
        t0 = time.perf_counter()
        await self.store.run("close", cid=cid, agent=agent, reason="agent", typ="t", fields="{}")
        took = time.perf_counter() - t0
        for new in await self.store.r.smembers(self.store.key("aconv", agent)):
            self.assigned.append((new, agent))
        return took

    async def latencies(self, ops: int) -> tuple[list[float], list[float]]:
        closes, ingests = [], []
        for i in range(ops):
            closes.append(await self.close_and_assign())
            ingests.append(await self._ingest())  # keeps the queue at its size
            if i % 5000 == 0:
                await self.store.r.delete(self.store.p + "outbox")
        return closes, ingests

    async def throughput(self, ops: int, workers: int = 16) -> float:
        done = 0

        async def worker() -> None:
            nonlocal done
            while done < ops and self.assigned:
                done += 1
                await self.close_and_assign()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return done / (time.perf_counter() - t0)

    async def cleanup(self) -> None:
        cursor = 0
        while True:
            cursor, keys = await self.store.r.scan(cursor, match=self.store.p + "*", count=5000)
            if keys:
                await self.store.r.unlink(*keys)
            if cursor == 0:
                break


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] * 1000 if len(values) > 1 else values[0] * 1000


async def main(args: argparse.Namespace) -> int:
    folder = tempfile.mkdtemp(prefix="sb-bench-router-")
    # Only Redis is needed: the other servers are "overridden" so the stack does not start them.
    env = {**os.environ, "SB_NATS_URL": os.environ.get("SB_NATS_URL", "nats://unused:4222"),
           "SB_DATABASE_URL": os.environ.get("SB_DATABASE_URL", "postgresql://unused/db")}
    stack = DevStack(folder, env=env)
    info = stack.start()
    redis = connect_redis(info.redis_url)
    try:
        results: dict[str, tuple[float, float, float]] = {}
        for name, agents, queued in (("small", 10, 100), ("large", args.large_agents, args.large_queued)):
            print(f"== {name}: {agents:,} agents, {queued:,} queued", file=sys.stderr, flush=True)
            sc = Scenario(redis, agents, queued)
            await sc.setup()
            closes, ingests = await sc.latencies(args.ops)
            rate = await sc.throughput(min(args.ops * 2, queued)) if name == "large" else 0.0
            results[name] = (_p(closes, 0.99), _p(ingests, 0.99), rate)
            print(f"decision p50/p99 ({agents:,} agents, {queued:,} queued): close+assign "
                  f"{_p(closes, 0.5):.3f}/{_p(closes, 0.99):.3f} ms, new conversation queued "
                  f"{_p(ingests, 0.5):.3f}/{_p(ingests, 0.99):.3f} ms", flush=True)
            await sc.cleanup()
    finally:
        await redis.aclose()
        stack.stop()
    ratio = results["large"][0] / results["small"][0]
    print(f"p99 ratio large/small: close+assign {ratio:.2f}, new conversation "
          f"{results['large'][1] / results['small'][1]:.2f} (target: <= 1.5)")
    print(f"router_assign: {results['large'][2]:.0f} assignments/s (target: >= 1000; 16 clients, "
          f"{args.large_agents:,} agents / {args.large_queued:,} queued; decision p99 ratio {ratio:.2f} <= 1.5)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-agents", type=int, default=10_000)
    parser.add_argument("--large-queued", type=int, default=100_000)
    parser.add_argument("--ops", type=int, default=2_000)
    sys.exit(asyncio.run(main(parser.parse_args())))
