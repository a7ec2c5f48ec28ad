"""Redis behind Sentinel (libs/storage/redis.py): kill -9 the primary under two routers; they follow the promoted
replica, see that it did not write their state (epoch_guard), rebuild it from the streams and keep assigning, and
no conversation is ever assigned twice or an agent pushed over capacity."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from libs.core.settings import ServiceSettings
from libs.devstack.redis_sentinel import RedisSentinelSet
from libs.storage.redis import connect_redis, parse_sentinels


@pytest.fixture(scope="module")
def sentinel_set(tmp_path_factory) -> Iterator[RedisSentinelSet]:
    with RedisSentinelSet(tmp_path_factory.mktemp("redis-sentinel"), replicas=1, sentinels=3) as s:
        yield s


def _assigned_twice(events, ch: str) -> dict[str, list[str]]:
    """Conversations with more than one assignment decision (an outbox sweep re-publishing the same event, same
    id, is one decision: JetStream dedups it)."""
    decisions = {e.id: e for e in events.of("conversation.assigned", channel_id=ch)}
    counts = Counter(e.conversation_id for e in decisions.values())
    return {cid: [e.agent_id for e in decisions.values() if e.conversation_id == cid]
            for cid, n in counts.items() if n > 1}


async def test_routers_follow_the_promoted_replica_without_double_assignment(
        sentinel_set, nats_js, router_settings, events, unique, kit):
    _, js = nats_js
    agents = [f"ana-{unique}", f"bruno-{unique}"]
    ch = f"ch-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, agents=agents))
    settings = router_settings.model_copy(update={
        "redis_url": "redis://unused:1/0", "redis_sentinels": sentinel_set.sentinels,
        "redis_password": sentinel_set.password, "key_prefix": f"sb:r{unique}:"})
    async with kit.running_router(settings) as first, kit.running_router(settings) as second:
        for agent in agents:
            await kit.status(first, agent, "available")
        for n in range(4):
            await kit.send(js, kit.inbound(ch, f"+54911{n:04d}", 1))
        before = await events.wait_for("conversation.assigned", 4, channel_id=ch, timeout=20)
        await asyncio.sleep(0.5)  # let the replica catch up, as it does within milliseconds in a cluster

        old = sentinel_set.kill_primary()
        new_port = await asyncio.to_thread(sentinel_set.wait_for_new_primary, old.port)
        assert new_port != old.port

        # Both replicas keep working on the promoted node. The promoted node did not write the live state's epoch,
        # so the routers refuse decisions (503, state_lost) until one of them has rebuilt it from the streams; the
        # next inbound message does that, and a client retries its 503 as the gateway's callers do.
        for n in range(4, 8):
            await kit.send(js, kit.inbound(ch, f"+54911{n:04d}", 1))
        for conv in before[:2]:
            for _ in range(150):
                resp = await second.post(f"/conversations/{conv.conversation_id}/close", json={
                    "agent_id": conv.agent_id, "typification_id": "sold", "fields": {"dni": "1"}})
                if resp.status != 503:
                    break
                await asyncio.sleep(0.2)
            assert resp.status == 200, await resp.text()
        after = await events.wait_for("conversation.assigned", 6, channel_id=ch, timeout=40)
        await asyncio.sleep(1.0)  # anything that would go wrong has had time to show

        assert _assigned_twice(events, ch) == {}
        loads = {a: (await kit.get_json(first, f"/agents/{a}"))["load"] for a in agents}
        assert all(load <= 2 for load in loads.values()) and sum(loads.values()) == 4, loads
        open_ids = {e.conversation_id for e in after} - {c.conversation_id for c in before[:2]}
        for cid in open_ids:
            conv = await kit.get_json(second, f"/conversations/{cid}")
            assert conv["state"] == "assigned" and conv["agent_id"] in agents
        queued = await kit.get_json(first, f"/queues/camp-{unique}")
        assert len(queued["items"]) == 2  # 8 arrived, 2 closed, 4 assigned at capacity: 2 wait

    client = connect_redis(ServiceSettings(redis_sentinels=sentinel_set.sentinels,
                                           redis_password=sentinel_set.password))
    try:
        assert (await client.info("replication"))["role"] == "master"
        assert (await client.config_get("appendfsync"))["appendfsync"] == "everysec"
    finally:
        await client.aclose()


def test_sentinel_addresses_are_parsed_or_refused():
    assert parse_sentinels("a:26379, b:1 ,c") == [("a", 26379), ("b", 1), ("c", 26379)]
    with pytest.raises(ValueError, match="host:port"):
        parse_sentinels("a:port")
