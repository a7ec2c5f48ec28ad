"""Routing concurrency property run: random events against router replicas, invariants checked after each step.

Events: messages (with duplicates, redeliveries and concurrent bursts from one contact), agents changing
presence, closes, transfers, offer answers, priority changes, and bad requests. After every step the live
state in Redis must satisfy ARCHITECTURE.md's invariants:

- every open conversation is in exactly one state (queued, offered, assigned), never on two agents;
- no agent over capacity, and each agent's load is the sum of its conversations' weights;
- every message is in exactly one conversation (checked every ``message_check_every`` steps);
- no queued conversation waits while an eligible agent has room.

The test suite runs a short version (``tests/router/test_property.py``); this module's ``main`` runs
100,000 events against the embedded NATS and Redis with three router replicas in one process.

    python -m bench.router_property [--events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from libs.contracts import InboundMessage
from libs.core.errors import AppError
from services.router.domain import Closure, StatusChange, Transfer
from services.router.handlers import Router

# One round trip: everything the invariants read, as JSON (read-only; the checks stay in Python).
SNAPSHOT_LUA = """
local P = ARGV[1]
local out = {convs = {}, agents = {}}
for _, cid in ipairs(redis.call('SMEMBERS', P .. 'open_all')) do
  local v = redis.call('HMGET', P .. 'conv:' .. cid, 'id', 'state', 'campaign', 'channel', 'contact', 'agent',
                       'weight', 'queue')
  if v[3] and string.sub(v[3], -#ARGV[2]) == ARGV[2] then
    local c = {id = v[1], state = v[2], campaign = v[3], channel = v[4], contact = v[5], agent = v[6],
               weight = v[7], queue = v[8]}
    c.in_q = redis.call('ZSCORE', P .. 'q:' .. v[3], cid)
    c.in_hold = redis.call('ZSCORE', P .. 'hold:' .. v[3], cid)
    c.open_key = redis.call('GET', P .. 'open:' .. v[4] .. ':' .. v[5])
    c.rej = redis.call('SMEMBERS', P .. 'rej:' .. cid)
    out.convs[#out.convs + 1] = c
  end
end
for i = 3, #ARGV do
  local a = ARGV[i]
  local h = redis.call('HMGET', P .. 'agent:' .. a, 'status', 'load')
  out.agents[#out.agents + 1] = {id = a, status = h[1], load = h[2], convs = redis.call('SMEMBERS', P .. 'aconv:' .. a)}
end
return cjson.encode(out)
"""

FIELDS = ("id", "state", "campaign", "channel", "contact", "agent", "weight", "queue")
STATUSES = ("available", "available", "available", "break", "after_call_work", "offline")
CAP = 3


def campaigns(run: str) -> list[dict[str, Any]]:
    """Two campaigns sharing some agents: A (chat and voice, weighted; transfers to B allowed) and B (offers)."""
    agents = [f"pa-{run}-{i}" for i in range(6)]
    # Closes happen at random, replied to or not: the property is about routing, not seed 004's reply rule.
    common = {"typifications": [{"id": "ok", "category": "ok"}], "transfer_typification": "ok"}
    allow = {"close_without_reply": True}
    a = {"id": f"pA-{run}", "name": "A", "agents": agents[:4],
         "channels": [{"id": f"pwa-{run}", "type": "whatsapp"}, {"id": f"pvo-{run}", "type": "voice"}],
         "routing": {"agent_capacity": CAP, "weights": {"voice": 3}, "strategy": "least_busy"},
         "permissions": {"transfer_between_campaigns": True, **allow}, "linked_campaigns": [f"pB-{run}"], **common}
    b = {"id": f"pB-{run}", "name": "B", "agents": agents[2:],
         "channels": [{"id": f"psm-{run}", "type": "sms"}],
         "routing": {"agent_capacity": CAP, "offer_timeout_s": 600, "strategy": "round_robin"},
         "permissions": allow, **common}
    return [a, b]


@dataclass
class Stats:
    steps: int = 0
    events: int = 0
    refused: int = 0
    sent: set[tuple[str, str]] = field(default_factory=set)
    sent_list: list[tuple[str, str]] = field(default_factory=list)
    conversations: dict[str, str] = field(default_factory=dict)  # id -> channel
    by_kind: dict[str, int] = field(default_factory=dict)


class Violation(AssertionError):
    pass


def _list(value: Any) -> list[Any]:
    """cjson encodes an empty Lua table as ``{}``."""
    return value if isinstance(value, list) else []


class PropertyRun:
    """Random events over several router replicas sharing one Redis and NATS."""

    def __init__(self, replicas: list[Router], run: str, seed: int) -> None:
        self.replicas = replicas
        self.store = replicas[0].store
        self.run = run
        self.rng = random.Random(seed)
        self.camps = campaigns(run)
        self.agents = sorted({a for c in self.camps for a in c["agents"]})
        self.channels = [(ch["id"], ch["type"]) for c in self.camps for ch in c["channels"]]
        self.contacts = [f"+1{n:03d}" for n in range(12)]
        self.stats = Stats()
        self._n = 0

    def _router(self) -> Router:
        return self.rng.choice(self.replicas)

    def _msg(self, channel: tuple[str, str], contact: str, pid: str | None = None) -> InboundMessage:
        self._n += 1
        return InboundMessage(channel_id=channel[0], channel_type=channel[1], contact_address=contact,  # type: ignore[arg-type]
                              provider_message_id=pid or f"p{self._n}", text=f"t{self._n}")

    async def _deliver(self, msg: InboundMessage) -> None:
        self._record(msg, await self._router().handle_inbound(msg))

    async def _deliver_batch(self, msgs: list[InboundMessage]) -> None:
        """One fetch of the router's inbound consumer: decided together (``Router.decide_inbound_many``)."""
        for msg, result in zip(msgs, await self._router().decide_inbound_many(list(msgs)), strict=True):
            if isinstance(result, BaseException):
                raise result
            self._record(msg, result)

    def _record(self, msg: InboundMessage, result: dict[str, Any]) -> None:
        key = (msg.channel_id, msg.provider_message_id)
        if key not in self.stats.sent:
            self.stats.sent.add(key)
            self.stats.sent_list.append(key)
        self.stats.conversations[result["conversation_id"]] = msg.channel_id
        self.stats.events += 1

    async def _open(self, state: str | None = None) -> list[dict[str, str]]:
        ids = sorted(await self.store.r.smembers(self.store.p + "open_all"))
        pipe = self.store.r.pipeline(transaction=False)
        for cid in ids:
            pipe.hmget(self.store.key("conv", cid), FIELDS)
        convs = [dict(zip(FIELDS, v, strict=True)) for v in await pipe.execute()]
        mine = [c for c in convs if (c.get("campaign") or "").endswith(self.run)]
        return [c for c in mine if state is None or c.get("state") == state]

    async def step(self) -> str:
        roll = self.rng.random()
        r = self._router()
        kind = "message"
        try:
            if roll < 0.38:
                await self._deliver(self._msg(self.rng.choice(self.channels), self.rng.choice(self.contacts)))
            elif roll < 0.43:
                kind = "redelivery"
                if self.stats.sent_list:
                    ch, pid = self.rng.choice(self.stats.sent_list)
                    channel = next(c for c in self.channels if c[0] == ch)
                    convs = [c for c in await self._open() if c["channel"] == ch] or [{"contact": "+1000"}]
                    await self._deliver(self._msg(channel, self.rng.choice(convs)["contact"], pid))
            elif roll < 0.47:
                kind = "burst"
                channel, contact = self.rng.choice(self.channels), self.rng.choice(self.contacts)
                await asyncio.gather(*(self._deliver(self._msg(channel, contact)) for _ in range(4)))
            elif roll < 0.51:
                # A fetch of the inbound consumer, decided in one round trip: a burst of one contact, other
                # contacts, and a redelivery, while another replica decides a fetch of its own.
                kind = "batch"
                channel, contact = self.rng.choice(self.channels), self.rng.choice(self.contacts)
                batch = [self._msg(channel, contact) for _ in range(3)]
                batch += [self._msg(self.rng.choice(self.channels), self.rng.choice(self.contacts)) for _ in range(3)]
                batch.append(batch[self.rng.randrange(len(batch))].model_copy())
                self.rng.shuffle(batch)
                other = [self._msg(self.rng.choice(self.channels), self.rng.choice(self.contacts)) for _ in range(3)]
                await asyncio.gather(self._deliver_batch(batch), self._deliver_batch(other))
            elif roll < 0.65:
                kind = "status"
                await r.set_status(self.rng.choice(self.agents), StatusChange(status=self.rng.choice(STATUSES)))
                self.stats.events += 1
            elif roll < 0.80:
                kind = "close"
                assigned = await self._open("assigned")
                if assigned:
                    c = self.rng.choice(assigned)
                    await r.close(c["id"], Closure(agent_id=c["agent"], typification_id="ok"))
                    self.stats.events += 1
            elif roll < 0.87:
                kind = "transfer"
                assigned = await self._open("assigned")
                if assigned:
                    c = self.rng.choice(assigned)
                    if self.rng.random() < 0.5:
                        t = Transfer(agent_id=c["agent"], to_agent_id=self.rng.choice(self.agents))
                    else:
                        t = Transfer(agent_id=c["agent"], to_campaign_id=self.rng.choice([x["id"] for x in self.camps]))
                    self.stats.events += 1
                    await r.transfer(c["id"], t)
            elif roll < 0.95:
                kind = "offer"
                offered = await self._open("offered")
                if offered:
                    c = self.rng.choice(offered)
                    self.stats.events += 1
                    await r.answer_offer(c["id"], c["agent"], self.rng.choice(("accept", "accept", "reject")))
            elif roll < 0.98:
                kind = "priority"
                queued = await self._open("queued")
                if queued:
                    self.stats.events += 1
                    await r.set_priority(self.rng.choice(queued)["id"], self.rng.randint(-5, 5))
            else:
                kind = "bad_request"
                opened = await self._open()
                if opened:
                    c = self.rng.choice(opened)
                    self.stats.events += 1
                    await r.close(c["id"], Closure(agent_id=f"intruder-{self.run}", typification_id="ok"))
        except AppError:
            self.stats.refused += 1
        self.stats.steps += 1
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        return kind

    async def _snapshot(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        raw = json.loads(await self.store.r.eval(SNAPSHOT_LUA, 0, self.store.p, self.run, *self.agents))
        convs = {c["id"]: c for c in _list(raw["convs"])}
        for c in convs.values():  # a nil reply is false in Lua
            for k in ("in_q", "in_hold", "open_key", "agent"):
                c[k] = c.get(k) or (None if k != "agent" else "")
        agents = {a["id"]: a for a in _list(raw["agents"])}
        return convs, agents

    async def check(self, messages: bool = False) -> None:
        """Raise ``Violation`` naming the first broken invariant."""
        open_convs, agents = await self._snapshot()
        holders: dict[str, str] = {}
        for aid, a in agents.items():
            load = 0
            for cid in _list(a["convs"]):
                if cid in holders:
                    raise Violation(f"{cid} is on two agents: {holders[cid]} and {aid}")
                holders[cid] = aid
                c = open_convs.get(cid)
                if c is None or c["agent"] != aid or c["state"] not in ("assigned", "offered"):
                    raise Violation(f"agent {aid} holds {cid} which is {c and (c['state'], c['agent'])}")
                load += int(c["weight"])
            if int(a.get("load") or 0) != load:
                raise Violation(f"agent {aid} load {a.get('load')} != sum of weights {load}")
            if load > CAP:
                raise Violation(f"agent {aid} over capacity: {load} > {CAP}")
        for c in open_convs.values():
            in_q, in_hold = c.get("in_q"), c.get("in_hold")
            if c.get("open_key") != c["id"]:
                raise Violation(f"{c['id']} is open but ({c['channel']}, {c['contact']}) points to {c.get('open_key')}")
            if c["state"] == "queued":
                if c["agent"] or c["id"] in holders or (in_q is None) == (in_hold is None):
                    raise Violation(f"queued {c['id']} agent={c['agent']!r} q={in_q} hold={in_hold}")
            elif c["state"] in ("assigned", "offered"):
                if holders.get(c["id"]) != c["agent"] or in_q is not None:
                    raise Violation(f"{c['state']} {c['id']} not held by {c['agent']} (queued={in_q})")
            else:
                raise Violation(f"open conversation {c['id']} in state {c['state']!r}")
        self._check_no_idle_room(open_convs, agents)
        if messages:
            await self._check_messages()

    def _check_no_idle_room(self, open_convs: dict[str, dict[str, Any]], agents: dict[str, dict[str, Any]]) -> None:
        members = {x["id"]: set(x["agents"]) for x in self.camps}
        for c in open_convs.values():
            if c["state"] != "queued" or c.get("queue") != "q":
                continue
            rejected = set(_list(c.get("rej")))
            for aid in members.get(c["campaign"], ()):
                a = agents[aid]
                if a.get("status") == "available" and int(a.get("load") or 0) + int(c["weight"]) <= CAP \
                        and aid not in rejected:
                    raise Violation(f"{c['id']} waits in {c['campaign']} while {aid} has room "
                                    f"({a.get('load')}+{c['weight']}<={CAP})")

    async def _check_messages(self) -> None:
        pipe = self.store.r.pipeline(transaction=False)
        cids = sorted(self.stats.conversations)
        for cid in cids:
            pipe.lrange(self.store.key("msgs", cid), 0, -1)
        seen: dict[tuple[str, str], str] = {}
        for cid, msgs in zip(cids, await pipe.execute(), strict=True):
            channel = self.stats.conversations[cid]
            for m in map(json.loads, msgs):
                if m.get("direction") != "in":
                    continue
                k = (channel, m["provider_message_id"])
                if k in seen:
                    raise Violation(f"message {k} is in {seen[k]} and {cid}")
                seen[k] = cid
        missing = self.stats.sent - set(seen)
        if missing:
            raise Violation(f"{len(missing)} messages in no conversation, e.g. {sorted(missing)[:3]}")


async def drive(run: PropertyRun, events: int, message_check_every: int = 500,
                progress: bool = False) -> Stats:
    t0 = time.perf_counter()
    while run.stats.events < events:
        await run.step()
        await run.check(messages=run.stats.steps % message_check_every == 0)
        if progress and run.stats.steps % 2000 == 0:
            rate = run.stats.events / (time.perf_counter() - t0)
            print(f"  {run.stats.events:,} events, {rate:.0f}/s", file=sys.stderr, flush=True)
    await run.check(messages=True)
    return run.stats


async def main(args: argparse.Namespace) -> int:
    from libs.core.logging import configure_logging
    from libs.devstack import DevStack
    from libs.messaging import SnapshotDirectory, nats_session
    from libs.storage import connect_redis
    from services.router.adapters.nats import Publisher
    from services.router.adapters.redis import RouterStore
    from services.router.settings import RouterSettings

    configure_logging("bench", level="warning")
    folder = tempfile.mkdtemp(prefix="sb-bench-property-")
    env = {**os.environ, "SB_DATABASE_URL": os.environ.get("SB_DATABASE_URL", "postgresql://unused/db")}
    stack = DevStack(folder, env=env)
    info = stack.start()
    run_id = uuid.uuid4().hex[:8]
    try:
        async with nats_session(info.nats_url, "bench-property") as (_, js):
            redis = connect_redis(info.redis_url)
            settings = RouterSettings(key_prefix=f"bench:{run_id}:")
            replicas = []
            for _ in range(3):
                store = RouterStore(redis, settings.key_prefix)
                replicas.append(Router(store, Publisher(js, store), SnapshotDirectory(), settings))
            await replicas[0].store.set_epoch()
            # Independent tenants (own campaigns, agents, contacts) run side by side on the same replicas.
            runs = [PropertyRun(replicas, f"{run_id}{k}", args.seed + k) for k in range(args.parallel)]
            for run in runs:
                for r in replicas:
                    for c in run.camps:
                        await r.on_campaign_change(c["id"], c)
            t0 = time.perf_counter()
            results = await asyncio.gather(*(drive(run, args.events // args.parallel, progress=i == 0)
                                             for i, run in enumerate(runs)))
            took = time.perf_counter() - t0
            stats = Stats(steps=sum(r.steps for r in results), events=sum(r.events for r in results),
                          refused=sum(r.refused for r in results))
            for r in results:
                stats.sent |= r.sent
                stats.conversations.update(r.conversations)
                for k, v in r.by_kind.items():
                    stats.by_kind[k] = stats.by_kind.get(k, 0) + v
            await redis.aclose()
    finally:
        stack.stop()
    print(f"steps {stats.steps:,}, refused (expected 4xx) {stats.refused:,}, conversations "
          f"{len(stats.conversations):,}, messages {len(stats.sent):,}, kinds {stats.by_kind}")
    print(f"router_property: {stats.events} events (target: >= 100000 with 0 invariant violations; "
          f"{stats.events / took:.0f} events/s, 3 replicas)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parallel", type=int, default=1)
    sys.exit(asyncio.run(main(parser.parse_args())))
