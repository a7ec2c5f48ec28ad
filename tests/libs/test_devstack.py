"""libs.devstack: real servers start, are reused, can be replaced by URLs, and stop cleanly."""

from __future__ import annotations

import os

import asyncpg
import nats

from libs.devstack import DevStack
from libs.devstack.stack import _alive


async def test_stack_starts_reuses_honours_overrides_and_stops(tmp_path, stack):
    folder = tmp_path / "ds"
    os.makedirs(folder)
    os.chmod(tmp_path, 0o755)
    # Redis comes from an existing server: the embedded one is not started.
    first = DevStack(folder, env={"SB_REDIS_URL": stack.redis_url})
    info = first.start()
    try:
        assert info.redis_url == stack.redis_url and set(info.pids) == {"nats", "postgres"}
        nc = await nats.connect(info.nats_url)
        assert nc.jetstream() is not None and (await nc.jetstream().account_info()) is not None
        await nc.close()
        conn = await asyncpg.connect(info.database_url)
        assert await conn.fetchval("SELECT current_database()") == "switchboard"
        await conn.close()
        again = DevStack(folder, env={"SB_REDIS_URL": stack.redis_url}).start()
        assert again == info
    finally:
        first.stop()
    assert not any(_alive(pid) for pid in info.pids.values())
    assert not (folder / "stack.json").exists()
