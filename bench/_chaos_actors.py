"""The outside world of ``bench.chaos``, each part in its own process: the provider peer, the customers (signed
webhooks at a steady rate) and the agents (accept, reply and close through the gateway).

Nothing here knows about faults; each part records what it saw, and the ledger reconciles those records with
the platform's sources of truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing.synchronize
import random
import signal
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from libs.devstack.payloads import meta_signature, whatsapp_text

# ---- the provider peer ---------------------------------------------------------------------------------
IDEMPOTENCY_HEADER = "Idempotency-Key"


def peer_app() -> web.Application:
    """A Graph-API messages endpoint that records every message it accepted.

    A request carrying an ``Idempotency-Key`` it has answered before gets the same answer again and creates
    nothing (counted as a replay), which is how a provider that honours idempotency keys behaves.
    """
    app = web.Application()
    sent: list[dict[str, Any]] = []
    by_key: dict[str, str] = {}
    replays = [0]
    counter = itertools.count(1)

    async def send(request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key and key in by_key:
            replays[0] += 1
            wamid = by_key[key]
        else:
            wamid = f"wamid.peer.{next(counter)}"
            if key:
                by_key[key] = wamid
            sent.append({"id": wamid, "key": key, "to": body.get("to"),
                         "text": (body.get("text") or {}).get("body"), "at": time.time()})
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                                  "messages": [{"id": wamid}]})

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"sent": sent, "replays": replays[0]})

    app.router.add_post("/{version}/{node}/messages", send)
    app.router.add_get("/peer/sent", listing)
    return app


def run_peer(port: int) -> None:
    """Process entry point: serve the peer on ``port`` until SIGTERM."""
    web.run_app(peer_app(), host="127.0.0.1", port=port, print=None, handle_signals=True)


# ---- the customers ---------------------------------------------------------------------------------------
@dataclass
class Plan:
    """Every webhook of a run, decided by the seed: which message each one carries.

    ``sends[k]`` is the message index of webhook ``k``; a message index seen before is a provider retry of an
    earlier message (the same bytes again). Message ``i`` comes from contact ``contact_of[i]``.
    """

    sends: array = field(default_factory=lambda: array("q"))
    contact_of: array = field(default_factory=lambda: array("q"))

    @property
    def messages(self) -> int:
        return len(self.contact_of)


def make_plan(seed: int, events: int, contacts: int, retry_share: float = 0.10, burst_share: float = 0.03,
              burst: tuple[int, int] = (3, 8)) -> Plan:
    """``events`` webhooks from ``contacts`` contacts: ``retry_share`` of them repeat an earlier message, and
    ``burst_share`` of the new messages start a burst of several in a row from one contact."""
    rnd = random.Random(seed)
    plan = Plan()
    pending_burst: list[int] = []
    while len(plan.sends) < events:
        if plan.messages and rnd.random() < retry_share:
            # Providers retry recent messages mostly, sometimes old ones.
            back = min(plan.messages, int(rnd.expovariate(1 / 200)) + 1)
            plan.sends.append(plan.messages - back)
            continue
        if pending_burst:
            contact = pending_burst.pop()
        else:
            contact = rnd.randrange(contacts)
            if rnd.random() < burst_share:
                pending_burst = [contact] * (rnd.randint(*burst) - 1)
        plan.contact_of.append(contact)
        plan.sends.append(plan.messages - 1)
    return plan


@dataclass
class Customers:
    """What the customers' process needs: where to post, how to sign, the plan and the pace."""

    urls: list[str]
    app_secret: str
    phone_number_id: str
    run_id: str
    seed: int
    events: int
    contacts: int
    rate: float
    timestamp: int = field(default_factory=lambda: int(time.time()))
    retry_after_failure_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
    max_in_flight: int = 128

    def wamid(self, i: int) -> str:
        return f"wamid.chaos.{self.run_id}.{i:09d}"

    def address(self, contact: int) -> str:
        return f"573{contact:09d}"

    def body(self, i: int, contact: int) -> bytes:
        return whatsapp_text(self.phone_number_id, self.address(contact), self.wamid(i), f"hola {i}",
                             timestamp=self.timestamp)


@dataclass
class Sent:
    """Per webhook: its message, when it started (``time.time()``) and its final HTTP status (599: no answer);
    per message: when its first 2xx answer arrived (0: never)."""

    message: array = field(default_factory=lambda: array("q"))
    started: array = field(default_factory=lambda: array("d"))
    status: array = field(default_factory=lambda: array("H"))
    acked_at: array = field(default_factory=lambda: array("d"))
    attempts: int = 0
    began: float = 0.0
    ended: float = 0.0


async def _customers(c: Customers) -> Sent:
    plan = make_plan(c.seed, c.events, c.contacts)
    out = Sent(acked_at=array("d", bytes(8 * plan.messages)))
    timeout = aiohttp.ClientTimeout(total=10)
    # A provider holds a bounded number of webhook calls open at once; past that, its sends wait their turn.
    in_flight = asyncio.Semaphore(c.max_in_flight)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512), timeout=timeout) as http:
        turn = itertools.count()

        async def post(k: int, i: int) -> None:
            async with in_flight:
                await post_one(k, i)

        async def post_one(k: int, i: int) -> None:
            body = c.body(i, plan.contact_of[i])  # the same bytes every time (a retry), so nothing is kept
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(c.app_secret, body)}
            status = 599
            # An answer other than 2xx (or none) is retried by the provider, on any replica, a few times.
            for delay in (*c.retry_after_failure_s, None):
                out.attempts += 1
                url = c.urls[next(turn) % len(c.urls)]
                try:
                    async with http.post(url, data=body, headers=headers) as r:
                        await r.read()
                        status = r.status
                except (aiohttp.ClientError, TimeoutError, OSError):
                    status = 599
                if 200 <= status < 300:
                    if not out.acked_at[i]:
                        out.acked_at[i] = time.time()
                    break
                if delay is None:
                    break
                await asyncio.sleep(delay)
            out.status[k] = status

        tasks: set[asyncio.Task[None]] = set()
        out.began = time.time()
        start = time.monotonic()
        for k, i in enumerate(plan.sends):
            due = start + k / c.rate
            delay = due - time.monotonic()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            out.message.append(i)
            out.started.append(time.time())
            out.status.append(0)
            task = asyncio.create_task(post(k, i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        out.ended = time.time()
    return out


def run_customers(c: Customers, conn: Any) -> None:
    """Process entry point: send the whole plan, then the record on ``conn``."""
    conn.send(asyncio.run(_customers(c)))
    conn.close()


# ---- the agents ------------------------------------------------------------------------------------------
@dataclass
class Agents:
    """The agents' process: who logs in, how often each looks at their conversations, how they close."""

    gateway: str
    users: list[tuple[str, str]]  # (username, password)
    typification_id: str
    fields: dict[str, str]
    seed: int
    # Each look at the conversations is a gateway and a router call: 60 agents every 0.5 s took more of this
    # machine than the webhooks did.
    poll_s: float = 1.0
    think_s: tuple[float, float] = (0.0, 0.2)
    # How often an agent looks at its own state, as a person glances at the console's status: one whom the
    # router put on a break for missed offers (offers that lapsed while a fault kept them from accepting)
    # makes themselves available again. Without this, faults took the agents away one by one until none was left
    # and the run never settled.
    status_s: float = 5.0


@dataclass
class Reply:
    conversation_id: str
    key: str
    text: str
    status: int  # the gateway's answer to the last attempt (201: accepted)


@dataclass
class Worked:
    """What the agents did: every reply they sent (and the gateway's answer), and counts of their actions."""

    replies: dict[str, Reply] = field(default_factory=dict)
    accepted: int = 0
    closed: int = 0
    resumed: int = 0  # breaks for missed offers the agents came back from
    refusals: dict[str, int] = field(default_factory=dict)  # "action status" -> count
    failures: dict[str, int] = field(default_factory=dict)  # "action error" -> count (no answer)


class _Agent:
    def __init__(self, cfg: Agents, username: str, password: str, http: aiohttp.ClientSession, worked: Worked,
                 rnd: random.Random) -> None:
        self.cfg, self.username, self.password, self.http, self.worked, self.rnd = (
            cfg, username, password, http, worked, rnd)
        self.token = ""

    async def call(self, method: str, path: str, body: Any = None, what: str = "") -> tuple[int, Any]:
        """One gateway call; logs in again when the token is refused. Status 0: no answer."""
        for _ in range(2):
            if not self.token:
                await self.login()
            try:
                async with self.http.request(method, f"{self.cfg.gateway}/api/v1{path}", json=body,
                                             headers={"Authorization": f"Bearer {self.token}"}) as r:
                    data = await r.json(content_type=None) if r.content_length != 0 else None
                    if r.status == 401:
                        self.token = ""
                        continue
                    if r.status >= 300 and what:
                        name = f"{what} {r.status}"
                        self.worked.refusals[name] = self.worked.refusals.get(name, 0) + 1
                    return r.status, data
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                if what:
                    name = f"{what} {type(exc).__name__}"
                    self.worked.failures[name] = self.worked.failures.get(name, 0) + 1
                return 0, None
        return 401, None

    async def login(self) -> None:
        while True:
            try:
                async with self.http.post(f"{self.cfg.gateway}/api/v1/auth/login",
                                          json={"username": self.username, "password": self.password}) as r:
                    if r.status == 200:
                        self.token = (await r.json())["access_token"]
                        return
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
                pass
            await asyncio.sleep(0.5)

    async def think(self) -> None:
        await asyncio.sleep(self.rnd.uniform(*self.cfg.think_s))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            status, _ = await self.call("PUT", "/me/status", {"status": "available"})
            if status == 200:
                break
            await asyncio.sleep(0.5)
        looked = time.monotonic()
        while not stop.is_set():
            if time.monotonic() - looked >= self.cfg.status_s:
                looked = time.monotonic()
                await self.resume_after_missed_offers()
            status, body = await self.call("GET", "/conversations")
            items = body.get("items", []) if status == 200 and isinstance(body, dict) else []
            for conv in items:
                await self.work(conv)
            await asyncio.sleep(self.cfg.poll_s)

    async def resume_after_missed_offers(self) -> None:
        status, me = await self.call("GET", f"/agents/{self.username}")
        if status == 200 and isinstance(me, dict) and me.get("status") == "break" \
                and me.get("reason") == "missed_offers":
            status, _ = await self.call("PUT", "/me/status", {"status": "available"}, what="resume")
            self.worked.resumed += int(status == 200)

    async def work(self, conv: dict[str, Any]) -> None:
        cid = str(conv.get("id"))
        state = conv.get("state")
        if state == "offered":
            await self.think()
            status, _ = await self.call("POST", f"/conversations/{cid}/accept", {}, what="accept")
            if status != 200:
                return
            self.worked.accepted += 1
            state = "assigned"
        if state != "assigned":
            return
        reply = self.worked.replies.get(cid)
        if reply is None or reply.status != 201:
            await self.think()
            key = f"{cid}:1"
            text = f"chaos reply to {cid}"
            status, _ = await self.call("POST", f"/conversations/{cid}/messages",
                                        {"text": text, "client_message_id": key}, what="reply")
            self.worked.replies[cid] = Reply(cid, key, text, status)
            if status != 201:
                return
        await self.think()
        status, _ = await self.call("POST", f"/conversations/{cid}/close",
                                    {"typification_id": self.cfg.typification_id, "fields": self.cfg.fields},
                                    what="close")
        if status == 200:
            self.worked.closed += 1


async def _agents(cfg: Agents, stop_flag: multiprocessing.synchronize.Event) -> Worked:
    worked = Worked()
    stop = asyncio.Event()
    rnd = random.Random(cfg.seed)
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), timeout=timeout) as http:
        agents = [_Agent(cfg, u, p, http, worked, random.Random(rnd.random())) for u, p in cfg.users]
        tasks = [asyncio.create_task(a.run(stop)) for a in agents]

        async def watch() -> None:
            loop = asyncio.get_running_loop()
            while not await loop.run_in_executor(None, stop_flag.wait, 0.5):
                pass
            stop.set()

        await asyncio.gather(watch(), *tasks)
    return worked


def run_agents(cfg: Agents, stop_flag: Any, conn: Any) -> None:
    """Process entry point: work until ``stop_flag`` is set, then send the record."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(BrokenPipeError):
        conn.send(asyncio.run(_agents(cfg, stop_flag)))
        conn.close()


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
