"""How snapshots reach the KV bucket: the outbox catches up, and an older version never overwrites a newer."""

from __future__ import annotations

from typing import Any

from libs.contracts import CampaignSnapshot
from services.campaigns.adapters.kv import SnapshotStore


async def test_outbox_publishes_what_a_failed_publish_left_behind(http: Any, body: Any, world: Any,
                                                                   pool: Any, kv_get: Any, until: Any) -> None:
    u = world["u"]
    await http("POST", "/campaigns", body(), expect=201)
    await until(lambda: kv_get(f"cmp-{u}"))
    # As if a change committed and its publish then failed: the row is ahead of the bucket.
    async with pool.acquire() as conn:
        await conn.execute("UPDATE campaigns.campaigns SET version = version + 1, name = 'Offline edit'"
                           " WHERE id = $1", f"cmp-{u}")

    async def caught_up() -> Any:
        value = await kv_get(f"cmp-{u}")
        return value if value["version"] == 2 else None

    snap = await until(caught_up, timeout=10)
    assert snap["name"] == "Offline edit"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT published_version FROM campaigns.campaigns WHERE id = $1",
                                   f"cmp-{u}") == 2


async def test_an_older_snapshot_never_overwrites_a_newer_one(nats_js: Any, unique: str, kv_get: Any) -> None:
    _, js = nats_js
    store = SnapshotStore(js)
    key = f"cas-{unique}"
    assert await store.put(CampaignSnapshot(id=key, name="v2", version=2))
    assert not await store.put(CampaignSnapshot(id=key, name="v1", version=1))
    assert not await store.put(CampaignSnapshot(id=key, name="v2", version=2))  # identical: no write
    assert (await kv_get(key))["name"] == "v2"
    assert await store.put(CampaignSnapshot(id=key, name="v3", version=3))
    await store.delete(key)
    assert await kv_get(key) is None
    await store.delete(key)  # deleting twice is fine
    assert await store.put(CampaignSnapshot(id=key, name="back", version=4))
    assert (await kv_get(key))["name"] == "back"
