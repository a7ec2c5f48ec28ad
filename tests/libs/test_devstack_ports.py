"""libs.devstack.free_port: below the ephemeral range, one slice per pytest-xdist worker, never twice."""

from __future__ import annotations

import pytest

from libs.devstack import stack


def test_each_worker_picks_from_its_own_slice_below_the_ephemeral_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    slices = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        lo, hi = stack._port_slice()
        ports = {stack.free_port() for _ in range(50)}
        assert len(ports) == 50 and all(lo <= p <= hi < 32768 for p in ports)
        slices.append(range(lo, hi + 1))
    assert not set(slices[0]) & set(slices[1])
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert stack._port_slice() == stack._PORTS
