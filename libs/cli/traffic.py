"""``switchboard demo --traffic``: a few hours of contacts and agents on the running platform, in compressed time.

Customers write to the demo WhatsApp channel (signed webhooks, Poisson arrivals); the demo agents log in, go
available, answer, sometimes transfer to a colleague, and close with the demo typification; one of them takes a
break so a queue forms; the demo campaign's routing closes conversations that wait too long (abandonments). All of
it goes through the public API and the webhooks, so the dashboard, the reports and the forecast fill in from the
durable record exactly as they would in production. ``--speed 60`` plays an hour in a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from libs.core import demo
from libs.devstack.payloads import meta_signature, whatsapp_text

AGENTS = [(u[1], u[2]) for u in demo.USERS if u[3] == "agent"]


@dataclass
class Plan:
    """What to simulate, in simulated time (seconds and contacts per simulated hour)."""

    hours: float = 3.0
    speed: float = 60.0
    contacts_per_hour: float = 60.0
    aht_s: float = 240.0
    answer_s: float = 20.0
    transfer_share: float = 0.1
    max_wait_s: float = 300.0
    seed: int | None = None

    def real(self, simulated_s: float) -> float:
        return simulated_s / self.speed


@dataclass
class Tally:
    arrivals: int = 0
    closed: int = 0
    transfers: int = 0
    seen: set[str] = field(default_factory=set)


class Client:
    def __init__(self, http: ClientSession, gateway: str) -> None:
        self.http, self.gateway, self.token = http, gateway, ""

    async def login(self, username: str, password: str) -> Client:
        self.token = (await self.call("POST", "/auth/login", {"username": username, "password": password}))[
            "access_token"]
        return self

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(method, f"{self.gateway}/api/v1{path}", json=body, headers=headers) as r:
            data = await r.json(content_type=None)
            if r.status >= 400:
                raise RuntimeError(f"{method} {path}: {r.status} {data}")
            return data


async def run_traffic(gateway: str, channels: str, plan: Plan, say: Any = print) -> int:
    """Play ``plan`` on the platform; print what happened and the supervisor's dashboard at the end."""
    rng = random.Random(plan.seed)
    tally = Tally()
    async with ClientSession(timeout=ClientTimeout(total=20)) as http:
        admin = await Client(http, gateway).login("admin", "admin-demo-pass")
        campaign = await admin.call("GET", f"/campaigns/{demo.CAMPAIGN_ID}")
        routing = {**campaign.get("routing", {}), "max_wait_s": max(1.0, plan.real(plan.max_wait_s)),
                   "overflow": "close"}
        # Waiting too long closes the conversation: the abandonments of the simulation.
        await admin.call("PATCH", f"/campaigns/{demo.CAMPAIGN_ID}", {"routing": routing})
        agents = [await Client(http, gateway).login(u, p) for u, p in AGENTS]
        ids = [(await a.call("GET", "/me"))["id"] for a in agents]
        for a in agents:
            await a.call("PUT", "/me/status", {"status": "available"})
        say(f"{len(agents)} agents available; {plan.hours:g} h at {plan.contacts_per_hour:g} contacts/h, "
            f"{plan.speed:g}x faster ({plan.real(plan.hours * 3600):.0f} s)")
        stop = asyncio.Event()
        workers = [asyncio.create_task(_agent(a, i, ids, plan, rng, tally, stop)) for i, a in enumerate(agents)]
        breaker = asyncio.create_task(_breaks(agents[-1], plan, stop))
        await _arrivals(http, channels, plan, rng, tally)
        await asyncio.sleep(plan.real(plan.aht_s * 3))  # let the last ones be answered and closed
        stop.set()
        await asyncio.gather(*workers, breaker, return_exceptions=True)
        for a in agents:
            await a.call("PUT", "/me/status", {"status": "offline"})
        sofia = await Client(http, gateway).login("sofia", "sofia-demo-pass")
        board = await sofia.call("GET", f"/dashboard?campaign_id={demo.CAMPAIGN_ID}")
    k = board.get("totals") or {}
    say(f"arrivals {tally.arrivals}, closed by agents {tally.closed}, transfers {tally.transfers}")
    say(f"dashboard today: offered {k.get('offered')}, answered {k.get('answered')}, abandoned {k.get('abandoned')}, "
        f"service level {k.get('service_level')} %, ASA {k.get('asa_s')} s, AHT {k.get('aht_s')} s, "
        f"occupancy {k.get('occupancy')} %")
    say("Open the console as sofia: Colas en vivo, Informes (and the forecast), Procesos.")
    return 0


async def _arrivals(http: ClientSession, channels: str, plan: Plan, rng: random.Random, tally: Tally) -> None:
    rate = plan.contacts_per_hour / 3600  # per simulated second
    end = plan.hours * 3600
    now = 0.0
    while True:
        gap = rng.expovariate(rate) if rate > 0 else end
        now += gap
        if now >= end:
            return
        await asyncio.sleep(plan.real(gap))
        phone = "34" + str(rng.randrange(600_000_000, 699_999_999))
        body = whatsapp_text(demo.WHATSAPP_PHONE_NUMBER_ID, phone, f"wamid.traffic.{uuid.uuid4().hex}",
                             rng.choice(["Hola, tengo una consulta", "Quiero contratar", "No me llega la factura"]))
        async with http.post(f"{channels}/webhooks/whatsapp/{demo.WHATSAPP_CHANNEL_ID}", data=body,
                             headers={"X-Hub-Signature-256": meta_signature(demo.WHATSAPP_APP_SECRET, body),
                                      "Content-Type": "application/json"}) as r:
            if r.status == 200:
                tally.arrivals += 1


async def _agent(me: Client, index: int, ids: list[str], plan: Plan, rng: random.Random, tally: Tally,
                 stop: asyncio.Event) -> None:
    """Answer what is offered or assigned; reply, then close (or transfer) after a handle time."""
    handling: set[str] = set()
    while not stop.is_set():
        try:
            convs = (await me.call("GET", "/conversations"))["items"]
        except RuntimeError:
            convs = []
        for c in convs:
            cid = c["id"]
            if cid in handling:
                continue
            handling.add(cid)
            asyncio.create_task(_handle(me, c, index, ids, plan, rng, tally, handling))
        await asyncio.sleep(0.3)


async def _handle(me: Client, conv: dict[str, Any], index: int, ids: list[str], plan: Plan, rng: random.Random,
                  tally: Tally, handling: set[str]) -> None:
    cid = conv["id"]
    try:
        if conv.get("state") == "offered":
            await me.call("POST", f"/conversations/{cid}/accept", {})
        await asyncio.sleep(plan.real(rng.uniform(0.2, 1.0) * plan.answer_s))
        await me.call("POST", f"/conversations/{cid}/messages", {"text": "¡Hola! Te ayudo enseguida."})
        await asyncio.sleep(plan.real(rng.expovariate(1 / plan.aht_s)))
        if cid not in tally.seen and rng.random() < plan.transfer_share:
            tally.seen.add(cid)
            colleague = rng.choice([x for i, x in enumerate(ids) if i != index])
            try:
                await me.call("POST", f"/conversations/{cid}/transfer", {"agent_id": colleague})
                tally.transfers += 1
                return
            except RuntimeError:
                pass  # the colleague has no room: close it instead
        await me.call("POST", f"/conversations/{cid}/close", {
            "typification_id": demo.SALE_TYPIFICATION_ID,
            "fields": {demo.REQUIRED_FIELD_KEY: str(rng.randrange(10_000_000, 99_999_999))}})
        tally.closed += 1
    except RuntimeError:
        pass  # closed meanwhile (waited too long, or by a supervisor)
    finally:
        handling.discard(cid)


async def _breaks(agent: Client, plan: Plan, stop: asyncio.Event) -> None:
    """One agent takes a break a third of the way in, for a simulated half hour (a third of a shorter plan): a
    queue forms. The end of the run ends the break too (the run no longer waits out a break longer than it)."""
    await asyncio.sleep(plan.real(plan.hours * 3600 / 3))
    if stop.is_set():
        return
    await agent.call("PUT", "/me/status", {"status": "break", "reason": "Café"})
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), plan.real(min(1800.0, plan.hours * 3600 / 3)))
    await agent.call("PUT", "/me/status", {"status": "available"})
