"""Concurrency property: random events over three router replicas keep every routing invariant.

The 100,000-event run is ``python -m bench.router_property``; this test runs the same generator shorter.
"""

from __future__ import annotations

import asyncio

from bench.router_property import PropertyRun, drive
from services.router.keys import ROUTER


async def test_random_events_keep_the_invariants(nats_js, routers, unique, kit):
    _, js = nats_js
    replicas = [r.app[ROUTER] for r in routers]
    run = PropertyRun(replicas, unique, seed=int(unique[:6], 16))
    kv = await js.key_value("campaigns")
    for c in run.camps:
        await kv.put(c["id"], kit.dumps(c).encode())
    for _ in range(100):
        if all(r.directory.get(c["id"]) for r in replicas for c in run.camps):
            break
        await asyncio.sleep(0.05)
    stats = await drive(run, 1200, message_check_every=200)
    assert stats.events >= 1200 and len(stats.sent) > 300
    assert stats.by_kind.get("burst") and stats.by_kind.get("redelivery") and stats.by_kind.get("transfer")
