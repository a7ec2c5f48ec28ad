"""libs.storage against the real PostgreSQL and Redis: migrations under an advisory lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from libs.storage import connect_redis, create_pool, discover, migrate


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


async def test_migrations_apply_once_even_when_replicas_race(stack, tmp_path, unique):
    table = f"t_{unique}"
    folder = _write(tmp_path / "m", {
        "001_create.sql": f"CREATE TABLE {table} (id int PRIMARY KEY);",
        "002_seed.sql": f"INSERT INTO {table} VALUES (1);",
    })
    pools = [await create_pool(stack.database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(p, f"svc_{unique}", folder) for p in pools))
        assert sorted(len(r) for r in results) == [0, 0, 2]
        assert await pools[0].fetchval(f"SELECT count(*) FROM {table}") == 1
        _write(folder, {"003_more.sql": f"INSERT INTO {table} VALUES (2);"})
        assert await migrate(pools[1], f"svc_{unique}", folder) == ["003_more.sql"]
    finally:
        for p in pools:
            await p.close()


async def test_failed_migration_leaves_nothing_half_applied(stack, tmp_path, unique):
    table = f"t_{unique}"
    folder = _write(tmp_path / "m", {
        "001_ok.sql": f"CREATE TABLE {table} (id int PRIMARY KEY);",
        "002_broken.sql": f"INSERT INTO {table} VALUES (1); INSERT INTO {table} VALUES (1);",
    })
    pool = await create_pool(stack.database_url)
    try:
        with pytest.raises(Exception, match="duplicate key"):
            await migrate(pool, f"svc_{unique}", folder)
        assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 0
        versions = await pool.fetch("SELECT version FROM schema_migrations WHERE service = $1", f"svc_{unique}")
        assert [r["version"] for r in versions] == [1]
    finally:
        await pool.close()


def test_badly_named_or_duplicate_migrations_are_refused(tmp_path):
    with pytest.raises(ValueError, match="NNN_name.sql"):
        discover(_write(tmp_path / "a", {"create.sql": "SELECT 1"}))
    with pytest.raises(ValueError, match="share version 1"):
        discover(_write(tmp_path / "b", {"001_a.sql": "SELECT 1", "0001_b.sql": "SELECT 1"}))


async def test_redis_connection_round_trip(stack, unique):
    client = connect_redis(stack.redis_url)
    try:
        async with client.pipeline(transaction=True) as pipe:
            pipe.set(f"k:{unique}", "v").get(f"k:{unique}")
            _, value = await pipe.execute()
        assert value == "v"
    finally:
        await client.aclose()


async def test_a_burst_beyond_the_redis_pool_waits_for_a_connection_instead_of_failing(stack):
    """redis-py's own pool refuses the command past max_connections ("Too many connections": the router answered
    500 to an admin's dashboard over hundreds of campaigns); ours makes it wait for a connection."""
    import asyncio

    import redis.asyncio as aioredis
    from redis.exceptions import MaxConnectionsError

    from libs.core.settings import ServiceSettings

    settings = ServiceSettings(redis_url=stack.redis_url, redis_max_connections=3, redis_pool_timeout_s=10)
    ours = connect_redis(settings)
    theirs = aioredis.from_url(stack.redis_url, max_connections=3)
    try:
        # 40 commands in flight at once, each holding its connection for 50 ms
        answers = await asyncio.gather(*(ours.execute_command("EVAL", "return redis.call('TIME')[1]", 0)
                                         for _ in range(40)))
        assert len(answers) == 40
        slow = [ours.blpop([f"nothing-{i}"], timeout=0.05) for i in range(40)]
        assert await asyncio.gather(*slow) == [None] * 40
        assert len(ours.connection_pool._in_use_connections) + len(ours.connection_pool._available_connections) <= 3
        with pytest.raises(MaxConnectionsError):
            await asyncio.gather(*(theirs.blpop([f"nothing-{i}"], timeout=0.05) for i in range(40)))
    finally:
        await ours.aclose()
        await theirs.aclose()
