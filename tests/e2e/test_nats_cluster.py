"""The inbound path over a 3-node JetStream cluster (R3) while the INBOUND leader is killed with kill -9 and
restarted: every webhook answered 200 reaches its conversation exactly once. The short run of
``python -m bench.nats_cluster``."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.timeout(300)
async def test_kill_9_of_the_inbound_leader_loses_and_duplicates_nothing(tmp_path):
    bench = importlib.import_module("bench.nats_cluster")
    result = await bench.run(messages=240, rate=30.0, kill_after_s=2.5, down_s=3.0, folder=tmp_path)
    print("\n".join(result.lines()))
    assert result.killed in {"n1", "n2", "n3"}
    assert len(result.acknowledged) == result.sent == 240
    assert result.lost == set()
    assert result.duplicated == {}
    assert 0 < result.failover_s < 30
