"""End-to-end routing benchmark: webhook -> channels -> JetStream -> router decision -> ``conversation.assigned``.

Starts an embedded stack (or the ``SB_*_URL`` servers) and ``campaigns``, ``channels`` and ``router`` as
subprocesses with the demo tenant. Through their HTTP APIs it creates its own WhatsApp channel (own app
secret) and a campaign on it with ``--agents`` agents of capacity ``--capacity``, and sets every agent
available on the router. Each webhook comes from a new contact, so each one opens a conversation that the
router assigns; a NATS subscriber on ``sb.conv.assigned.>`` (in the load generator's process) records when
each assignment arrives. The generator runs in its own process.

1. Sustained throughput: a closed loop of ``--window`` messages in flight end to end (a sender posts the
   next webhook only once its previous one was assigned); assignments/s over the measured seconds.
2. Latency at 70 % of that rate: webhooks sent on a fixed schedule (open loop); for each, the time from the
   moment its POST started to the moment its ``conversation.assigned`` reached the subscriber.
3. Raw nats-py JetStream on the same machine: one process publishes (acks awaited, ``--window`` in flight)
   and another pulls and acks (batches of 16) messages of the webhook's size; our throughput as a ratio of it.

Consumers that are not on this path (campaigns' conversation fold, channels' outbound and voice connector)
are off unless ``--all-consumers``. Issue 5 targets: >= 1,000 msg/s (stretch 2,000); p50 <= 5 ms, p99 <= 25 ms.

    python -m bench.routing [--quick] [--seconds 15] [--agents 1000] [--capacity 100] [--window 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig

from bench._common import (
    CpuMeter,
    Load,
    Sent,
    ServiceProcess,
    bench_stack,
    generate,
    internal_auth,
    machine,
    ms,
    percentile,
    profiled,
    result,
    run_in_process,
    services,
    stack_pids,
    wait_quiet,
)
from libs.core import demo
from libs.devstack import StackInfo
from libs.messaging.streams import StreamSpec

TARGET_RPS, STRETCH_RPS = 1_000, 2_000
TARGET_P50_MS, TARGET_P99_MS = 5.0, 25.0
PHONE_NUMBER_ID = "100000000000777"
RAW_STREAM = StreamSpec("BENCH_RAW_ROUTING", ["bench.rawjs.>"], duplicate_window_s=24 * 3600.0)
RAW_DURABLE = "bench-raw"


# ---- setup through the services' own APIs ----------------------------------------------------------
@dataclass
class Tenant:
    channel_id: str
    campaign_id: str
    app_secret: str
    agents: list[str]


async def _ok(r: aiohttp.ClientResponse, what: str) -> Any:
    body = await r.json(content_type=None)
    if r.status >= 300:
        raise RuntimeError(f"{what}: HTTP {r.status} {body}")
    return body


async def create_tenant(procs: dict[str, ServiceProcess], run_id: str, agents: int, capacity: int) -> Tenant:
    """A WhatsApp channel, a campaign with ``agents`` agents on it, every agent available on the router."""
    t = Tenant(f"bench-wa-{run_id}", f"bench-{run_id}", f"bench-secret-{run_id}",
               [f"bench-{run_id}-a{i}" for i in range(agents)])
    async with aiohttp.ClientSession() as http:
        channels_admin = f"http://127.0.0.1:{procs['channels'].env['SB_CHANNELS_ADMIN_PORT']}"
        async with http.post(f"{channels_admin}/channels", headers=internal_auth("channels"), json={
                "id": t.channel_id, "type": "whatsapp", "name": "bench", "phone_number_id": PHONE_NUMBER_ID,
                "app_secret": t.app_secret}) as r:
            await _ok(r, "create channel")
        async with http.post(f"{procs['campaigns'].url}/campaigns", headers=internal_auth("campaigns", "bench"),
                             json={
                "id": t.campaign_id, "client_id": demo.CLIENT_ID, "project_id": demo.PROJECT_ID,
                "name": f"bench {run_id}", "channels": [{"id": t.channel_id, "type": "whatsapp"}],
                "agents": t.agents, "routing": {"strategy": "longest_idle", "agent_capacity": capacity}}) as r:
            await _ok(r, "create campaign")
        router = procs["router"].url
        deadline = time.monotonic() + 30
        while True:  # the router learns the campaign from the KV bucket
            async with http.get(f"{router}/agents/{t.agents[0]}", headers=internal_auth("router")) as r:
                if t.campaign_id in (await _ok(r, "read agent")).get("campaigns", []):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the router never saw the benchmark campaign")
            await asyncio.sleep(0.1)
        sem = asyncio.Semaphore(16)

        async def available(agent: str) -> None:
            async with sem, http.put(f"{router}/agents/{agent}/status", json={"status": "available"},
                                     headers=internal_auth("router")) as r:
                await _ok(r, f"set {agent} available")

        await asyncio.gather(*(available(a) for a in t.agents))
    return t


# ---- end to end ------------------------------------------------------------------------------------
@dataclass
class Phase:
    sent: Sent
    start: float
    end: float

    @property
    def answered(self) -> int:
        return len(self.sent.ok())

    def latencies(self) -> list[float]:
        """Webhook POST start to ``conversation.assigned`` received, for requests sent inside the window."""
        s = self.sent
        return [s.assigned[s.index[k]] - s.sent[k] for k in s.ok()
                if s.index[k] in s.assigned and self.start <= s.sent[k] <= self.end]

    def assigned_rate(self) -> float:
        n = sum(1 for t in self.sent.assigned.values() if self.start <= t <= self.end)
        return n / (self.end - self.start)

    def missing(self) -> int:
        return sum(1 for k in self.sent.ok() if self.sent.index[k] not in self.sent.assigned)

    def describe(self, label: str) -> str:
        lat = self.latencies()
        errors = ", ".join(f"{n} x {c}" for c, n in sorted(self.sent.errors().items())) or "none"
        shown = " ".join(f"p{q:g} {ms(percentile(lat, q)):.2f}" for q in (50, 90, 99))
        return (f"{label}: {self.assigned_rate():,.0f} assigned/s, latency (ms) {shown} "
                f"max {ms(max(lat, default=float('nan'))):.1f}; "
                f"{self.answered:,} webhooks answered 2xx (errors: {errors}), {self.missing()} never assigned")


def _load(args: argparse.Namespace, url: str, tenant: Tenant, nats_url: str, run_id: str, first: int,
          **kw: Any) -> Load:
    return Load(url=url, app_secret=tenant.app_secret, phone_number_id=PHONE_NUMBER_ID, run_id=run_id,
                count=10**8, connections=args.window, first=first, nats_url=nats_url,
                channel_id=tenant.channel_id, **kw)


async def end_to_end(args: argparse.Namespace, procs: dict[str, ServiceProcess], info: StackInfo, tenant: Tenant,
                     run_id: str) -> tuple[Phase, Phase, float]:
    url = f"{procs['channels'].url}/webhooks/whatsapp/{tenant.channel_id}"
    pids = {**{n: p.pid for n, p in procs.items()}, **stack_pids(info)}
    closed = _load(args, url, tenant, info.nats_url, run_id, 0, duration_s=args.warmup + args.seconds)
    on_path = {n: procs[n] for n in ("channels", "router")}
    meter = CpuMeter(pids)
    await wait_quiet(pids, args.quiet_wait)
    async with profiled(on_path, args.profile, args.warmup + args.seconds):
        meter.start()
        sent = await generate(closed)
        cpu = meter.stop()
    throughput = Phase(sent, sent.started + args.warmup, sent.started + args.warmup + args.seconds)
    print(throughput.describe(f"closed loop, {args.window} in flight"))
    print(f"  {cpu}\n  {meter.per_item(len(sent.assigned), 'message')}")
    rate = 0.7 * throughput.assigned_rate()
    paced = _load(args, url, tenant, info.nats_url, run_id, 10**7, rate=rate, duration_s=1.0 + args.seconds)
    await wait_quiet(pids, args.quiet_wait)
    meter.start()
    sent = await generate(paced)
    cpu = meter.stop()
    latency = Phase(sent, sent.started + 1.0, sent.started + 1.0 + args.seconds)
    lag = ms(percentile(list(sent.lag), 99))
    print(latency.describe(f"open loop at {rate:,.0f}/s") + f"; generator start lag p99 {lag:.2f} ms")
    print(f"  {cpu}\n  {meter.per_item(len(sent.assigned), 'message')}")
    return throughput, latency, rate


# ---- raw nats-py JetStream: publish in one process, pull + ack in another --------------------------
def raw_publisher(nats_url: str, count: int, window: int, payload: bytes, conn: Any) -> None:
    async def main() -> tuple[float, float]:
        nc = await nats.connect(nats_url)
        js, sem, prefix = nc.jetstream(), asyncio.Semaphore(window), os.urandom(4).hex()

        async def one(i: int) -> None:
            async with sem:
                await js.publish(f"bench.rawjs.{i % 8}", payload, timeout=10, headers={"Nats-Msg-Id": f"{prefix}:{i}"})

        began = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        ended = time.monotonic()
        await nc.close()
        return began, ended

    conn.send(asyncio.run(main()))


def raw_consumer(nats_url: str, count: int, batch: int, conn: Any) -> None:
    async def main() -> tuple[float, int]:
        nc = await nats.connect(nats_url)
        sub = await nc.jetstream().pull_subscribe_bind(RAW_DURABLE, stream=RAW_STREAM.name)
        n, last = 0, time.monotonic()
        while n < count and time.monotonic() - last < 10:
            try:
                msgs = await sub.fetch(batch, timeout=1.0)
            except (NatsTimeout, TimeoutError):
                continue
            for msg in msgs:
                await msg.ack()
                n += 1
            last = time.monotonic()
        await nc.close()
        return last, n

    conn.send(asyncio.run(main()))


async def raw_jetstream(nats_url: str, count: int, window: int, payload: bytes) -> float:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(RAW_STREAM.config())
    await js.add_consumer(RAW_STREAM.name, ConsumerConfig(durable_name=RAW_DURABLE, ack_policy=AckPolicy.EXPLICIT,
                                                          max_ack_pending=1000))
    try:
        (began, published), (last, consumed) = await asyncio.gather(
            run_in_process(raw_publisher, nats_url, count, window, payload),
            run_in_process(raw_consumer, nats_url, count, 16))
    finally:
        await js.delete_stream(RAW_STREAM.name)
        await nc.close()
    rate = consumed / (last - began)
    print(f"raw nats-py JetStream: {consumed:,} of {count:,} published and consumed in {last - began:.2f} s "
          f"({count / (published - began):,.0f}/s published): {rate:,.0f} msg/s")
    return rate


async def run(args: argparse.Namespace) -> tuple[list[str], bool]:
    print(f"machine: {machine()}")
    run_id = os.urandom(3).hex()
    extra = {} if args.all_consumers else {"SB_CAMPAIGNS_CONVERSATION_CONSUMER": "false",
                                           "SB_CHANNELS_OUTBOUND_CONSUMER": "false"}
    with bench_stack() as (info, tmp):
        async with services(info, tmp, ["campaigns", "channels", "router"], **extra) as procs:
            tenant = await create_tenant(procs, run_id, args.agents, args.capacity)
            print(f"campaign {tenant.campaign_id}: {args.agents} agents available, capacity {args.capacity} each; "
                  f"off-path consumers {'on' if args.all_consumers else 'off'}")
            throughput, latency, rate = await end_to_end(args, procs, info, tenant, run_id)
        payload = _load(args, "", tenant, info.nats_url, run_id, 0).body(0)
        await wait_quiet(stack_pids(info), args.quiet_wait)
        raw = await raw_jetstream(info.nats_url, args.raw_messages, args.window, payload)
    ours = throughput.assigned_rate()
    lat = latency.latencies()
    p50, p99 = ms(percentile(lat, 50)), ms(percentile(lat, 99))
    met = ours >= TARGET_RPS and p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS
    return [
        result("routing.throughput", ours, "msg/s", f">= {TARGET_RPS:,}, stretch {STRETCH_RPS:,}"),
        result("routing.latency_p50", p50, "ms", f"<= {TARGET_P50_MS:g} at 70% of the throughput, {rate:,.0f}/s"),
        result("routing.latency_p99", p99, "ms", f"<= {TARGET_P99_MS:g} at 70% of the throughput, {rate:,.0f}/s"),
        result("routing.raw_jetstream", raw, "msg/s", "- (nats-py publish + pull/ack, same machine)"),
        result("routing.ratio_to_raw", ours / raw if raw else float("nan"), "x", "- (end to end / raw JetStream)"),
    ], met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 1 s warm-up, 5 s per phase")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds of each phase")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=64, help="messages in flight in the closed loop")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=100, help="conversations per agent (1..100)")
    parser.add_argument("--raw-messages", type=int, default=30_000)
    parser.add_argument("--all-consumers", action="store_true", help="keep the off-path consumers running")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample channels and router with py-spy during the throughput phase")
    parser.add_argument("--quiet-wait", type=float, default=30.0, metavar="S",
                        help="wait up to S seconds for other processes to leave the CPU before each phase")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.raw_messages, args.agents = 5.0, 1.0, 10_000, 300
    lines, met = asyncio.run(run(args))
    print("\n".join(lines))
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
