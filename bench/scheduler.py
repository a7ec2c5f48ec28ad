"""Timer lateness: two scheduler replicas, one killed mid-run; how late each timer fires (target: within 1 s).

Run: ``python -m bench.scheduler [--timers N]``. The last lines print ``name: value unit (target: ...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import uuid
from datetime import UTC, datetime, timedelta

from nats.js.api import ConsumerConfig, DeliverPolicy

from bench._common import KEYS, bench_stack
from libs.contracts import TimerDue, TimerSet
from libs.devstack import free_port
from libs.devstack.services import start_service
from libs.messaging import nats_session, publish_many


async def run(n: int, spread_s: float) -> dict[str, float]:
    with bench_stack() as (info, tmp):
        env = {**os.environ, **info.env(), **KEYS.env(), "SB_ENV": "production", "SB_LOG_LEVEL": "warning"}
        procs = []
        for name in ("a", "b"):
            port = free_port()
            procs.append(await start_service("scheduler", {**env, "SB_SCHEDULER_PORT": str(port)}, port,
                                             tmp / f"scheduler-{name}.log"))
        owner = f"bench{uuid.uuid4().hex[:6]}"
        async with nats_session(info.nats_url, "bench-scheduler") as (_, js):
            base = datetime.now(UTC) + timedelta(seconds=1)
            timers = [TimerSet(timer_id=f"t{i}", owner=owner, purpose="due",
                               fire_at=base + timedelta(seconds=spread_s * i / n)) for i in range(n)]
            await publish_many(js, timers)
            await asyncio.sleep(1 + spread_s / 2)
            procs[0].send_signal(signal.SIGKILL)  # one replica dies while timers fall due
            await procs[0].wait()
            await asyncio.sleep(spread_s / 2 + 1.5)
            sub = await js.subscribe(f"sb.timer.due.{owner}.>", stream="TIMERS",
                                     config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
            late: list[float] = []
            ids: list[str] = []
            try:
                while True:
                    msg = await sub.next_msg(timeout=1.0)
                    due = TimerDue.model_validate_json(msg.data)
                    ids.append(due.timer_id)
                    late.append((due.occurred_at - due.fire_at).total_seconds() * 1000)
            except Exception:
                pass
            await sub.unsubscribe()
        procs[1].send_signal(signal.SIGTERM)
        await procs[1].wait()
    late.sort()
    return {"fired": len(ids), "unique": len(set(ids)), "expected": n,
            "p50": statistics.median(late) if late else float("nan"),
            "p99": late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan"),
            "max": late[-1] if late else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timers", type=int, default=500)
    parser.add_argument("--spread", type=float, default=6.0, help="seconds over which the timers fall due")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 100 if args.quick else args.timers
    r = asyncio.run(run(n, args.spread))
    print(f"scheduler_timers_fired: {r['fired']} of {r['expected']} ({r['unique']} distinct)"
          " (target: each exactly once)")
    print(f"scheduler_lateness_p50: {r['p50']:.1f} ms (target: < 1000 ms)")
    print(f"scheduler_lateness_p99: {r['p99']:.1f} ms (target: < 1000 ms)")
    print(f"scheduler_lateness_max: {r['max']:.1f} ms (target: < 1000 ms, one replica SIGKILLed mid-run)")


if __name__ == "__main__":
    main()
