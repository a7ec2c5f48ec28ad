"""Router pipeline benchmark: InboundMessage on JetStream -> router decision -> ``conversation.assigned`` received.

Everything local on the embedded NATS and Redis; the router runs as its own process (``python -m
services.router``), as in production. Measures:

1. sustained throughput: N new conversations published as fast as JetStream takes them, until the last
   ``conversation.assigned`` arrives;
2. latency (publish -> assigned received) p50 / p99 at 70% of that rate;
3. raw nats-py JetStream publish + pull-consume of the same messages, and our throughput as a ratio of it.

The webhook hop (``channels``) is not included: see ``bench/routing`` for the full path.

    python -m bench.router_pipeline [--messages 6000 --replicas 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiohttp import ClientSession

from bench._common import KEYS, CpuMeter, internal_auth, stack_pids
from libs.contracts import CampaignSnapshot, InboundMessage, decode
from libs.devstack import DevStack, free_port
from libs.devstack.services import start_service
from libs.messaging import nats_session


async def _start_router(env: dict[str, str], log: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    return await start_service("router", {**env, "SB_ROUTER_PORT": str(port)}, port, log, 60), port


class Run:
    def __init__(self, js, nc, channel: str) -> None:  # type: ignore[no-untyped-def]
        self.js, self.nc, self.channel = js, nc, channel
        self.sent: dict[str, float] = {}
        self.got: dict[str, float] = {}
        self.done = asyncio.Event()
        self.expect = 0

    async def on_assigned(self, msg) -> None:  # type: ignore[no-untyped-def]
        e = decode(msg.data)
        contact = getattr(e, "contact_address", "")
        if getattr(e, "channel_id", "") == self.channel and contact in self.sent and contact not in self.got:
            self.got[contact] = time.perf_counter()
            if len(self.got) >= self.expect:
                self.done.set()

    async def publish(self, contact: str) -> None:
        m = InboundMessage(channel_id=self.channel, channel_type="whatsapp", contact_address=contact,
                           provider_message_id=f"wamid.{contact}", text="hola")
        self.sent[contact] = time.perf_counter()
        await self.js.publish(m.subject(), m.model_dump_json().encode(), headers={"Nats-Msg-Id": m.msg_id()})


async def _throughput(run: Run, n: int, tag: str) -> float:
    run.expect = len(run.got) + n
    run.done.clear()
    sem = asyncio.Semaphore(256)

    async def one(i: int) -> None:
        async with sem:
            await run.publish(f"+{tag}{i:07d}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    await asyncio.wait_for(run.done.wait(), 300)
    return n / (time.perf_counter() - t0)


async def _latency(run: Run, rate: float, seconds: float, tag: str) -> list[float]:
    n = int(rate * seconds)
    run.expect = len(run.got) + n
    run.done.clear()
    contacts = [f"+{tag}{i:07d}" for i in range(n)]
    t0 = time.perf_counter()
    tasks = []
    for i, c in enumerate(contacts):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(run.publish(c)))
    await asyncio.gather(*tasks)
    await asyncio.wait_for(run.done.wait(), 120)
    return [(run.got[c] - run.sent[c]) * 1000 for c in contacts]


async def _raw_jetstream(js, n: int) -> float:  # type: ignore[no-untyped-def]
    """Publish n messages to a scratch stream and consume them with a durable pull consumer, acking each."""
    from nats.js.api import StreamConfig

    name = f"BENCH{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"bench.{name}.>"]))
    sem = asyncio.Semaphore(256)
    payload = InboundMessage(channel_id="x", channel_type="whatsapp", contact_address="+1",
                             provider_message_id="p").model_dump_json().encode()

    async def one(i: int) -> None:
        async with sem:
            await js.publish(f"bench.{name}.x", payload, headers={"Nats-Msg-Id": str(i)})

    t0 = time.perf_counter()
    pub = asyncio.gather(*(one(i) for i in range(n)))
    sub = await js.pull_subscribe(f"bench.{name}.>", durable="bench", stream=name)
    got = 0
    while got < n:
        try:
            msgs = await sub.fetch(256, timeout=2)
        except Exception:
            continue
        for m in msgs:
            await m.ack()
        got += len(msgs)
    await pub
    rate = n / (time.perf_counter() - t0)
    await js.delete_stream(name)
    return rate


async def main(args: argparse.Namespace) -> int:
    folder = tempfile.mkdtemp(prefix="sb-bench-pipeline-")
    env = {**os.environ, "SB_DATABASE_URL": os.environ.get("SB_DATABASE_URL", "postgresql://unused/db")}
    stack = DevStack(folder, env=env)
    info = stack.start()
    procs: list[asyncio.subprocess.Process] = []
    try:
        async with nats_session(info.nats_url, "bench-pipeline") as (nc, js):
            run_id = uuid.uuid4().hex[:6]
            channel = f"bench-{run_id}"
            agents = [f"b{run_id}-{i}" for i in range(200)]
            snap = CampaignSnapshot(id=f"bench-{run_id}", name="bench", agents=agents,
                                    channels=[{"id": channel, "type": "whatsapp"}],  # type: ignore[list-item]
                                    routing={"agent_capacity": 1000})  # type: ignore[arg-type]
            kv = await js.key_value("campaigns")
            await kv.put(snap.id, snap.model_dump_json().encode())
            renv = {**env, **info.env(), **KEYS.env(), "SB_ENV": "production", "SB_LOG_LEVEL": "warning",
                    "SB_ROUTER_KEY_PREFIX": f"bench:{run_id}:"}
            ports = []
            for i in range(args.replicas):
                proc, port = await _start_router(renv, Path(folder) / f"router{i}.log")
                procs.append(proc)
                ports.append(port)
            async with ClientSession() as http:
                for a in agents:
                    async with http.put(f"http://127.0.0.1:{ports[0]}/agents/{a}/status",
                                        json={"status": "available"}, headers=internal_auth("router")) as r:
                        assert r.status == 200, await r.text()
            run = Run(js, nc, channel)
            await nc.subscribe("sb.conv.assigned.>", cb=run.on_assigned)
            await _throughput(run, 500, "w")  # warm-up
            meter = CpuMeter({**{f"router{i}": p.pid for i, p in enumerate(procs)}, **stack_pids(info)})
            events_before = (await js.stream_info("CONVERSATIONS")).state.messages
            meter.start()
            rate = await _throughput(run, args.messages, "t")
            shares = meter.stop()
            await asyncio.sleep(0.5)  # the last decision's events after its assignment
            events = (await js.stream_info("CONVERSATIONS")).state.messages - events_before
            print(f"sustained: {rate:.0f} messages/s ({args.messages:,} new conversations, "
                  f"{args.replicas} router replica(s))", flush=True)
            # CPU per message barely moves with neighbours on the machine, unlike the rate: compare versions by it.
            print(f"  {shares}\n  {meter.per_item(args.messages, 'message')}\n"
                  f"  CONVERSATIONS events per message: {events / args.messages:.2f}", flush=True)
            lat = await _latency(run, rate * 0.7, args.seconds, "l")
            q = statistics.quantiles(lat, n=100)
            print(f"latency at 70% ({rate * 0.7:.0f}/s, {len(lat):,} messages): p50 {q[49]:.1f} ms, "
                  f"p99 {q[98]:.1f} ms (targets: p50 <= 5 ms, p99 <= 25 ms)", flush=True)
            raw = await _raw_jetstream(js, args.messages)
            print(f"raw nats-py JetStream publish+consume: {raw:.0f} messages/s; ours is {rate / raw:.0%} of it",
                  flush=True)
    finally:
        for p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
                await asyncio.wait_for(p.wait(), 30)
        stack.stop()
    print(f"router_pipeline: {rate:.0f} messages/s (target: >= 1000, stretch 2000; p50 {q[49]:.1f} ms, "
          f"p99 {q[98]:.1f} ms at 70%; {rate / raw:.0%} of raw JetStream)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--replicas", type=int, default=1)
    sys.exit(asyncio.run(main(parser.parse_args())))
