"""An admin's dashboard reads every campaign's queue from the router: hundreds of calls for one request. They
run at most FANOUT at once (all at once, they took more Redis connections than the router's pool held)."""

from __future__ import annotations

import asyncio

from services.gateway.handlers import FANOUT, _bounded


async def test_calls_run_at_most_limit_at_once_and_answer_in_order():
    running, peak = 0, 0

    async def call(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (i % 3))
        running -= 1
        return i

    assert await _bounded([call(i) for i in range(200)]) == list(range(200))
    assert peak == FANOUT
    peak = 0
    assert await _bounded([call(i) for i in range(10)], limit=3) == list(range(10))
    assert peak == 3
