"""Chaos benchmark: the whole pipeline under crashes, with a ledger that proves nothing was lost or doubled.

It starts its own embedded NATS, Redis and PostgreSQL and runs the services as real processes: channels x2,
router x3, crm, scheduler, campaigns and gateway, plus the local provider peer (a Graph-API endpoint that
honours ``Idempotency-Key``). Through the gateway, as the demo admin, it creates a WhatsApp channel that sends
to the peer, ``--agents`` agents and a campaign with offers.

Then, in three processes of their own:

- customers send ``--events`` signed webhooks at ``--rate`` per second from ``--contacts`` contacts,
  alternating between the two channels processes: 10 % are provider retries of earlier messages, some are
  bursts from one contact, and an answer other than 2xx is retried like a provider does;
- agents poll their conversations through the gateway and accept, reply (with a ``client_message_id``) and
  close each one;
- this process injects faults on a schedule drawn from ``--seed``, after a calm first part
  (``--calm-share`` of the events): kill -9 of a random channels, router, crm or scheduler process (restarted),
  kill -9 of NATS (restarted on the same store), a Redis restart that loses its data, a kill -9 of Redis
  restarted from its append-only file (``everysec``: the last second lost), and a rolling SIGTERM restart of
  every service.

When the customers are done it waits for the pipeline to settle, stops the agents and reconciles every source
of truth (``bench/_chaos_ledger.py``). It exits 1 if any count that must be 0 is not.

    python -m bench.chaos [--events 100000] [--rate 150] [--seed 7] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import nats
import redis.asyncio as aioredis

from bench import _chaos_actors as actors
from bench import _chaos_ledger as ledger
from bench._common import KEYS, machine, percentile, result, run_in_process, start_process, stop_process
from libs.core import demo
from libs.core.secretbox import new_key_spec
from libs.devstack import DevStack, StackInfo, free_port
from libs.devstack import faults as stack_faults
from libs.devstack.services import ServiceProcess
from services.channels.settings import ChannelsSettings

PHONE_NUMBER_ID = "100000000000999"
JWT_SECRET = "chaos-bench-jwt-secret-of-at-least-32-chars"
ROUTER_PREFIX = "sb:r:"
KILLABLE = ("channels", "router", "crm", "scheduler")
# kill -9 of a service; kill -9 of NATS; Redis back empty; Redis back from its append-only file (everysec: the
# last second of writes lost, the epoch kept); a rolling SIGTERM restart of every service.
KINDS = ("kill", "nats", "redis", "redis-aof", "rolling")
MAX_CALM_DROP = 0.30


# ---- the platform --------------------------------------------------------------------------------------
@dataclass
class Platform:
    """The stack and every service process of one run, by replica name (``router-2``)."""

    stack: DevStack
    info: StackInfo
    folder: Path
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    peer_url: str = ""

    def replicas(self, service: str) -> list[str]:
        return [n for n in self.procs if n.rsplit("-", 1)[0] == service]


REPLICAS = {"campaigns": 1, "crm": 1, "channels": 2, "router": 3, "scheduler": 1, "gateway": 1}


def _env(info: StackInfo, folder: Path, args: argparse.Namespace) -> dict[str, str]:
    return {**os.environ, **info.env(), **KEYS.env(), "SB_ENV": "production", "SB_LOG_LEVEL": "warning",
            "SB_DEMO_SEED": "true", "SB_GATEWAY_METRICS_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1", "SB_GATEWAY_JWT_SECRET": JWT_SECRET, "SB_SHUTDOWN_BUDGET_S": "6",
            "SB_BLOB_URL": f"file://{folder / 'blobs'}",  # one folder every replica shares (one machine)
            # A provider call that hangs is given up quickly, so a send in doubt is retried within the run.
            "SB_CHANNELS_PROVIDER_TIMEOUT_S": "3", "SB_CHANNELS_PROVIDER_ATTEMPTS": "2",
            "SB_CHANNELS_PROVIDER_MAX_WAIT_S": "1", "SB_ROUTER_INBOUND_ACK_WAIT_S": str(args.ack_wait),
            "SB_CRM_RUN_JOBS": "false", "SB_CHANNELS_PUBLIC_BASE_URL": "http://127.0.0.1",
            "SB_CHANNELS_SECRET_KEYS": new_key_spec("chaos")}


async def start_platform(stack: DevStack, info: StackInfo, folder: Path, args: argparse.Namespace) -> Platform:
    plat = Platform(stack, info, folder)
    base = _env(info, folder, args)
    ports = {f"{s}-{i}": free_port() for s, n in REPLICAS.items() for i in range(1, n + 1)}
    admin_port = free_port()
    split_admin = "admin_port" in ChannelsSettings.model_fields
    urls = {"router": ports["router-1"], "crm": ports["crm-1"], "campaigns": ports["campaigns-1"],
            "channels": admin_port if split_admin else ports["channels-1"]}
    for name, port in ports.items():
        service = name.rsplit("-", 1)[0]
        env = {**base, f"SB_{service.upper()}_PORT": str(port)}
        if service == "channels":
            env["SB_CHANNELS_SMTP_PORT"] = str(free_port())
            env["SB_CHANNELS_ADMIN_PORT"] = str(admin_port if name == "channels-1" else free_port())
        if service == "gateway":
            env.update({f"SB_GATEWAY_{k.upper()}_URL": f"http://127.0.0.1:{p}" for k, p in urls.items()})
            env["SB_GATEWAY_METRICS_PORT"] = str(free_port())  # not the fixed 8087 another run may hold
        plat.procs[name] = ServiceProcess(service, env, port, folder)
    first = ["campaigns-1", "crm-1", "channels-1", "router-1"]  # each runs its migrations alone
    for name in first:
        await plat.procs[name].start(timeout=120)
    await asyncio.gather(*(p.start(timeout=120) for n, p in plat.procs.items() if n not in first))
    return plat


@contextlib.asynccontextmanager
async def running(args: argparse.Namespace) -> AsyncIterator[Platform]:
    with tempfile.TemporaryDirectory(prefix="sb-chaos-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)  # PostgreSQL runs as an unprivileged user when we are root
        stack = DevStack(folder / "stack", redis_appendfsync="everysec")  # as production runs it
        info = stack.start()
        peer_port = free_port()
        peer = start_process(actors.run_peer, peer_port)
        plat: Platform | None = None
        try:
            plat = await start_platform(stack, info, folder, args)
            plat.peer_url = f"http://127.0.0.1:{peer_port}"
            yield plat
        finally:
            if plat is not None:
                await asyncio.gather(*(p.stop(timeout=15) for p in plat.procs.values()))
                if args.keep_logs:
                    keep = Path(args.keep_logs)
                    keep.mkdir(parents=True, exist_ok=True)
                    for p in plat.procs.values():
                        (keep / p.log_path.name).write_text(p.log())
            await stop_process(peer)
            stack.stop()


# ---- the tenant, through the gateway as the demo admin ---------------------------------------------------
@dataclass
class Tenant:
    channel_id: str
    campaign_id: str
    app_secret: str
    agents: list[tuple[str, str]]  # (username, password)


async def _admin_call(http: aiohttp.ClientSession, gateway: str, token: str, method: str, path: str,
                      body: Any) -> Any:
    for _ in range(50):
        async with http.request(method, f"{gateway}/api/v1{path}", json=body,
                                headers={"Authorization": f"Bearer {token}"}) as r:
            data = await r.json(content_type=None)
            if r.status < 300:
                return data
            if r.status < 500:
                raise RuntimeError(f"{method} {path}: HTTP {r.status} {data}")
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{method} {path} kept failing")


async def create_tenant(plat: Platform, run_id: str, agents: int, capacity: int, offer_s: float) -> Tenant:
    gateway = plat.procs["gateway-1"].url
    t = Tenant(f"chaos-wa-{run_id}", f"chaos-{run_id}", f"chaos-secret-{run_id}",
               [(f"chaos{run_id}a{i}", f"pass-{run_id}-{i}") for i in range(agents)])
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gateway}/api/v1/auth/login", json={"username": "admin",
                                                                    "password": "admin-demo-pass"}) as r:
            token = (await r.json())["access_token"]
        await _admin_call(http, gateway, token, "POST", "/channels", {
            "id": t.channel_id, "type": "whatsapp", "name": "chaos", "phone_number_id": PHONE_NUMBER_ID,
            "app_secret": t.app_secret, "access_token": f"chaos-token-{run_id}", "base_url": plat.peer_url})
        for username, password in t.agents:
            await _admin_call(http, gateway, token, "POST", "/users", {
                "id": username, "username": username, "role": "agent", "password": password})
        await _admin_call(http, gateway, token, "POST", "/campaigns", {
            "id": t.campaign_id, "client_id": demo.CLIENT_ID, "project_id": demo.PROJECT_ID,
            "name": f"chaos {run_id}", "status": "active", "channels": [{"id": t.channel_id, "type": "whatsapp"}],
            "closing_typifications": ["no-interest"], "agents": [u for u, _ in t.agents],
            "permissions": {"close_without_reply": False},
            "routing": {"strategy": "longest_idle", "agent_capacity": capacity, "offer_timeout_s": offer_s}})
    return t


# ---- faults ----------------------------------------------------------------------------------------------
@dataclass
class Fault:
    kind: str
    target: str
    at: float = 0.0  # when it was injected (time.time())
    back: float = 0.0  # when everything it took down was ready again
    recovered_s: float | None = None

    def describe(self, origin: float) -> str:
        rec = "-" if self.recovered_s is None else f"{self.recovered_s:.2f} s"
        return (f"  +{self.at - origin:7.1f} s  {self.kind:8} {self.target:12} back after {self.back - self.at:5.1f} s"
                f", assignments flowing again after {rec}")


def schedule(seed: int, quick: bool, services: list[str]) -> list[tuple[float, str, str]]:
    """(gap before it in seconds, kind, target) for each fault, drawn from ``seed``: every kind once in a random
    order, then (unless ``quick``) random kinds, kills the most often."""
    rnd = random.Random(seed * 7919 + 1)
    kinds = list(KINDS)
    rnd.shuffle(kinds)
    if not quick:
        kinds += rnd.choices(KINDS, weights=(6, 1.5, 1, 1, 1), k=400)
    killable = [s for s in services if s.rsplit("-", 1)[0] in KILLABLE]
    gap = (2.0, 5.0) if quick else (8.0, 25.0)
    targets = {"rolling": "all", "redis-aof": "redis"}
    return [(rnd.uniform(*gap), k, rnd.choice(killable) if k == "kill" else targets.get(k, k)) for k in kinds]


async def inject(plat: Platform, fault: Fault, rnd: random.Random) -> None:
    loop = asyncio.get_running_loop()
    fault.at = time.time()
    down = rnd.uniform(0.5, 2.0)
    if fault.kind == "kill":
        proc = plat.procs[fault.target]
        if proc.proc is not None and proc.proc.returncode is None:
            proc.proc.send_signal(signal.SIGKILL)
            await proc.proc.wait()
        await asyncio.sleep(down)
        await proc.start(timeout=120)
    elif fault.kind == "nats":
        await loop.run_in_executor(None, stack_faults.kill_server, plat.stack, "nats")
        await asyncio.sleep(down)
        await loop.run_in_executor(None, stack_faults.restart_nats, plat.stack)
    elif fault.kind in ("redis", "redis-aof"):
        keep = fault.kind == "redis-aof"
        await loop.run_in_executor(None, lambda: stack_faults.restart_redis(plat.stack, keep_data=keep))
    else:  # a rolling restart, as a deployment does it: every service at once, one replica of each at a time
        waves: dict[str, list[ServiceProcess]] = {}
        for name, proc in plat.procs.items():
            waves.setdefault(name.rsplit("-", 1)[1], []).append(proc)

        async def restart(proc: ServiceProcess) -> None:
            await proc.stop(signal.SIGTERM, timeout=30)
            await proc.start(timeout=120)

        for wave in waves.values():
            await asyncio.gather(*(restart(p) for p in wave))
    fault.back = time.time()


async def run_faults(plat: Platform, plan: list[tuple[float, str, str]], seed: int, stop: asyncio.Event,
                     log: list[Fault]) -> None:
    rnd = random.Random(seed)
    for gap, kind, target in plan:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), gap)
        if stop.is_set():
            return
        fault = Fault(kind, target)
        log.append(fault)
        try:
            await inject(plat, fault, rnd)
        except Exception as exc:  # a service that does not come back is a finding, not a crash of the bench
            fault.back = time.time()
            print(f"  fault {kind} {target} failed: {exc!r}"[:2000], flush=True)


# ---- watching assignments flow ---------------------------------------------------------------------------
class Flow:
    """Arrival times of ``conversation.offered``/``assigned`` (core NATS, reconnecting across NATS restarts)."""

    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id
        self.arrivals: list[tuple[float, float]] = []  # (arrived, decided)
        self.nc: Any = None

    async def start(self, url: str) -> None:
        async def on_msg(msg: Any) -> None:
            data = json.loads(msg.data)
            if data.get("channel_id") == self.channel_id:
                self.arrivals.append((time.time(), ledger._seconds(data["occurred_at"])))

        async def quiet(exc: Exception) -> None:  # NATS restarts are expected here
            return None

        self.nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=quiet)
        for subject in ("sb.conv.offered.>", "sb.conv.assigned.>"):
            await self.nc.subscribe(subject, cb=on_msg, pending_msgs_limit=1_000_000)

    def recovery(self, fault: Fault) -> float | None:
        """Seconds from the fault to the first assignment decided after it that reached a subscriber."""
        after = [arrived for arrived, decided in self.arrivals if decided > fault.at]
        return min(after) - fault.at if after else None

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


# ---- settling and reading the sources --------------------------------------------------------------------
DURABLES = (("INBOUND", "router-inbound"), ("CONVERSATIONS", "crm-conversations"), ("OUTBOUND", "channels-outbound"))


async def backlog(js: Any, r: aiohttp.ClientSession | None, redis: aioredis.Redis) -> dict[str, int]:
    out: dict[str, int] = {}
    for stream, durable in DURABLES:
        try:
            info = await js.consumer_info(stream, durable)
            out[durable] = info.num_pending + info.num_ack_pending
        except Exception:
            out[durable] = -1
    try:
        out["outbox"] = int(await redis.xlen(f"{ROUTER_PREFIX}outbox"))
        out["open"] = int(await redis.scard(f"{ROUTER_PREFIX}open_all"))
    except Exception:
        out["outbox"] = out["open"] = -1
    return out


async def settle(js: Any, redis: aioredis.Redis, stall_s: float, limit_s: float = 3600.0) -> dict[str, int]:
    """Wait until every consumer is drained, the outbox is empty and every conversation is closed; give up when
    nothing moved for ``stall_s`` (or after ``limit_s``). Returns what was left ({} when settled)."""
    began = last_change = time.monotonic()
    quiet = 0
    left: dict[str, int] = {}
    while time.monotonic() - last_change < stall_s and time.monotonic() - began < limit_s:
        now = await backlog(js, None, redis)
        if now != left:
            left, last_change = now, time.monotonic()
        quiet = quiet + 1 if not any(left.values()) else 0
        if quiet >= 3:
            return {}
        await asyncio.sleep(1.0)
    return left


async def collect(plat: Platform, tenant: Tenant, sent: actors.Sent, customers: actors.Customers,
                  worked: actors.Worked, capacity: int) -> tuple[ledger.Sources, list[ledger.Event]]:
    nc = await nats.connect(plat.info.nats_url)
    js = nc.jetstream()
    try:
        inbound_raw = await ledger.read_stream(js, "INBOUND", f"sb.inbound.whatsapp.{tenant.channel_id}")
        conv_raw = await ledger.read_stream(js, "CONVERSATIONS", "sb.conv.>")
    finally:
        await nc.close()
    events = ledger.conversation_events(conv_raw, tenant.channel_id)
    pool = await asyncpg.create_pool(plat.info.database_url, min_size=1, max_size=2)
    try:
        crm_messages, crm_conversations = await ledger.crm_rows(pool, tenant.channel_id)
    finally:
        await pool.close()
    cids = sorted({e.conversation_id for e in events} | set(crm_conversations))
    redis = aioredis.from_url(plat.info.redis_url, decode_responses=True)
    try:
        router_conversations = await ledger.router_states(redis, ROUTER_PREFIX, cids)
    finally:
        await redis.aclose()
    async with aiohttp.ClientSession() as http, http.get(f"{plat.peer_url}/peer/sent") as r:
        peer = await r.json()
    acked = {customers.wamid(i) for i, at in enumerate(sent.acked_at) if at}
    sources = ledger.Sources(
        acked=acked, inbound={d.get("provider_message_id") for d, _ in inbound_raw if isinstance(d, dict)},
        events=events, crm_messages=crm_messages, crm_conversations=crm_conversations,
        router_conversations=router_conversations,
        replies_accepted={r.text: r.conversation_id for r in worked.replies.values() if r.status == 201},
        replies_tried={r.text for r in worked.replies.values()},
        peer_texts=[s["text"] for s in peer["sent"] if s.get("text")], capacity=capacity)
    return sources, events


def throughput(sent: actors.Sent, events: list[ledger.Event], first: int, last: int) -> float:
    """Customers' messages the router decided per second while webhooks ``first..last-1`` were being sent: the
    offered rate when the pipeline keeps up, less when faults stall it (a backlog left at the end is not
    counted)."""
    last = min(last, len(sent.started)) - 1
    if last <= first:
        return float("nan")
    start, end = sent.started[first], sent.started[last]
    decided = sum(1 for e in events if e.type == "conversation.message" and e.direction == "in"
                  and start <= e.at <= end)
    return decided / (end - start)


def machine_busy() -> Any:
    """A clock of the machine's CPU: call the result to get the busy share since (processes come and go here,
    so there is no per-process split)."""
    def ticks() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        return sum(fields) - fields[3] - fields[4], sum(fields)

    began = ticks()

    def busy() -> str:
        now = ticks()
        share = (now[0] - began[0]) / max(1, now[1] - began[1])
        return f"machine CPU busy {share:.0%} of {os.cpu_count()} cores over the run (every process, ours or not)"

    return busy


# ---- the run ---------------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    print(f"machine: {machine()}", flush=True)
    run_id = f"{args.seed:x}{os.urandom(2).hex()}"
    lines: list[str] = []
    async with running(args) as plat:
        started = time.time()
        tenant = await create_tenant(plat, run_id, args.agents, args.capacity, args.offer_s)
        print(f"platform ready: {', '.join(plat.procs)}; campaign {tenant.campaign_id} with {args.agents} agents "
              f"of capacity {args.capacity}", flush=True)
        customers = actors.Customers(
            urls=[f"{plat.procs[n].url}/webhooks/whatsapp/{tenant.channel_id}" for n in plat.replicas("channels")],
            app_secret=tenant.app_secret, phone_number_id=PHONE_NUMBER_ID, run_id=run_id, seed=args.seed,
            events=args.events, contacts=args.contacts, rate=args.rate)
        agents_cfg = actors.Agents(gateway=plat.procs["gateway-1"].url, users=tenant.agents,
                                   typification_id="no-interest", fields={}, seed=args.seed)
        ctx = multiprocessing.get_context("spawn")
        stop_agents = ctx.Event()
        flow = Flow(tenant.channel_id)
        await flow.start(plat.info.nats_url)
        busy = machine_busy()
        agents_task = asyncio.create_task(run_in_process(actors.run_agents, agents_cfg, stop_agents))
        customers_task = asyncio.create_task(run_in_process(actors.run_customers, customers))
        calm_events = int(args.events * args.calm_share)
        origin = time.time()
        await asyncio.sleep(calm_events / args.rate)
        print(f"calm part over ({calm_events:,} webhooks); faults begin", flush=True)
        fault_log: list[Fault] = []
        stop_faults = asyncio.Event()
        plan = schedule(args.seed, args.quick, list(plat.procs))
        faults_task = asyncio.create_task(run_faults(plat, plan, args.seed, stop_faults, fault_log))
        sent: actors.Sent = await customers_task
        if not args.quick:  # the short run injects every planned fault, even after the last webhook
            stop_faults.set()
        await faults_task
        print(f"customers done: {len(sent.message):,} webhooks in {sent.ended - sent.began:.1f} s; "
              f"{len(fault_log)} faults; settling", flush=True)
        nc = await nats.connect(plat.info.nats_url)
        redis = aioredis.from_url(plat.info.redis_url, decode_responses=True)
        try:
            left = await settle(nc.jetstream(), redis, args.settle_s)
        finally:
            await nc.close()
            await redis.aclose()
        if left:
            lines.append(f"  did not settle (nothing moved for {args.settle_s:.0f} s): {left}")
            print(lines[-1], flush=True)
        stop_agents.set()
        worked: actors.Worked = await agents_task
        cpu = busy()
        await flow.close()
        for f in fault_log:
            f.recovered_s = flow.recovery(f)
        sources, events = await collect(plat, tenant, sent, customers, worked, args.capacity)
        led = ledger.reconcile(sources)
        elapsed = time.time() - started
    print("faults (from the start of the load):")
    for f in fault_log:
        print(f.describe(origin))
    print(f"agents: {worked.accepted:,} accepted, {len(worked.replies):,} replied, {worked.closed:,} closed, "
          f"{worked.resumed:,} breaks for missed offers ended; "
          f"refusals {worked.refusals or 'none'}; no answer {worked.failures or 'none'}")
    print(cpu)
    # How each count came about, with examples: part of the result lines so a failing test shows them too.
    lines += [f"  {what}: {n} (e.g. {', '.join(led.examples[what][:3])})" for what, n in sorted(led.detail.items())]
    calm = throughput(sent, events, 0, calm_events)
    chaotic = throughput(sent, events, calm_events, len(sent.message))
    recoveries = [f.recovered_s for f in fault_log if f.recovered_s is not None]
    unrecovered = sum(1 for f in fault_log if f.recovered_s is None)
    p99 = percentile(recoveries, 99) if recoveries else float("nan")
    kinds = {k: sum(1 for f in fault_log if f.kind == k) for k in KINDS}
    messages = len(set(sent.message))
    achieved = len(sent.message) / max(1e-9, sent.ended - sent.began)  # until the last answer
    if achieved < 0.9 * args.rate:
        print(f"  OVERLOADED: the customers kept {achieved:,.1f} webhooks/s of the {args.rate:g}/s asked: the "
              "machine is too busy for this rate, and every figure below suffers from it")
    print(f"run took {elapsed:.0f} s; {messages:,} distinct messages, {messages - led.acknowledged:,} never answered "
          f"2xx; {sent.attempts:,} POSTs; faults by kind {kinds}; {unrecovered} without a later assignment")
    lines += [
        result("chaos.events", len(sent.message), "webhooks", f"{args.events:,} sent, 10 % provider retries"),
        result("chaos.acknowledged", led.acknowledged, "messages", "distinct messages answered 2xx"),
        *(result(f"chaos.{name}", getattr(led, name), "", "0") for name in ledger.Ledger.MUST_BE_ZERO),
        result("chaos.recovery_p99_s", p99, "s", "- (fault to assignments flowing again)"),
        result("chaos.throughput_calm", calm, "msg/s", f"- (offered {args.rate:g}/s)"),
        result("chaos.throughput_chaos", chaotic, "msg/s", f">= {1 - MAX_CALM_DROP:.0%} of the calm part"),
    ]
    failed = led.failed()
    if left:
        failed.append("did not settle")
    if calm and chaotic < (1 - MAX_CALM_DROP) * calm:
        failed.append("throughput")
    if missing := [k for k, n in kinds.items() if not n]:
        failed.append("faults not injected: " + ", ".join(missing))
    return lines, failed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="webhooks to send (retries included)")
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks per second")
    parser.add_argument("--contacts", type=int, default=0, help="distinct customers (default: events / 5)")
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--capacity", type=int, default=3)
    parser.add_argument("--offer-s", type=float, default=30.0, help="offer timeout")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calm-share", type=float, default=0.2, help="share of the events sent before any fault")
    parser.add_argument("--settle-s", type=float, default=120.0,
                        help="stop waiting for the pipeline to settle once nothing moved for this long")
    parser.add_argument("--ack-wait", type=float, default=10.0, help="router inbound ack wait (redelivery delay)")
    parser.add_argument("--quick", action="store_true",
                        help="one fault of each kind, a few seconds apart (the test suite's short run)")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy every service's log here at the end")
    args = parser.parse_args(argv)
    if not args.contacts:
        args.contacts = max(10, args.events // 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lines, failed = asyncio.run(run(args))
    print("\n".join(lines))
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
