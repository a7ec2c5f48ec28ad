"""The embedded stack requires credentials for NATS and Redis, and can run Redis with an append-only file."""

from __future__ import annotations

import asyncio
import os
import signal

import nats
import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, ResponseError

from libs.devstack import DevStack
from libs.devstack.stack import Credentials, redis_argv


async def test_nats_and_redis_refuse_a_client_without_credentials(stack):
    bare_nats = stack.nats_url.split("@", 1)[-1]
    with pytest.raises((nats.errors.NoServersError, nats.errors.Error, OSError)):
        await nats.connect(f"nats://{bare_nats}", connect_timeout=2, max_reconnect_attempts=0,
                           allow_reconnect=False)
    nc = await nats.connect(stack.nats_url)
    assert nc.is_connected
    await nc.close()

    bare_redis = aioredis.from_url("redis://" + stack.redis_url.split("@", 1)[-1])
    with pytest.raises((AuthenticationError, ResponseError), match="(?i)auth"):
        await bare_redis.ping()
    await bare_redis.aclose()
    wrong = aioredis.from_url(stack.redis_url.replace("://:", "://:wrong"))
    with pytest.raises((AuthenticationError, ResponseError)):
        await wrong.ping()
    await wrong.aclose()


def test_credentials_are_made_once_per_folder_and_private(tmp_path):
    first = Credentials.of(tmp_path)
    assert Credentials.of(tmp_path) == first
    assert len(first.nats_password) >= 20 and first.redis_password != first.nats_password
    assert oct((tmp_path / "credentials.json").stat().st_mode & 0o777) == "0o600"
    assert Credentials.of(tmp_path / "other") != first


@pytest.mark.parametrize("appendfsync", [None, "everysec"])
async def test_redis_keeps_its_data_across_a_kill_only_with_the_append_only_file(tmp_path, appendfsync):
    env = {"SB_NATS_URL": "nats://unused:1", "SB_DATABASE_URL": "postgresql://unused"}
    ds = DevStack(tmp_path / "ds", env=env, redis_appendfsync=appendfsync)
    info = ds.start()
    try:
        client = aioredis.from_url(info.redis_url)
        assert (await client.config_get("appendonly"))["appendonly"] == ("yes" if appendfsync else "no")
        if appendfsync:
            assert (await client.config_get("appendfsync"))["appendfsync"] == appendfsync
        await client.set("conversation:1", "assigned")
        await client.aclose()
        await asyncio.sleep(1.5)  # everysec: the write has been fsynced by now
        os.kill(info.pids["redis"], signal.SIGKILL)
        ds._procs["redis"].wait(10)
    finally:
        ds.stop()
    again = DevStack(tmp_path / "ds", env=env, redis_appendfsync=appendfsync)
    info = again.start()
    try:
        client = aioredis.from_url(info.redis_url)
        assert await client.get("conversation:1") == (b"assigned" if appendfsync else None)
        await client.aclose()
    finally:
        again.stop()


def test_redis_argv_refuses_an_unknown_fsync_policy(tmp_path):
    with pytest.raises(ValueError, match="appendfsync"):
        redis_argv(6379, tmp_path, "pw", "sometimes")
