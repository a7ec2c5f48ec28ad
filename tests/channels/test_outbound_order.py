"""Outbound order: the replies of one conversation reach the provider in the order they were sent, with three
channels replicas sharing the work and a provider that refuses some sends (each refused send goes back to
JetStream and comes again later), because channels handles only the oldest pending reply of a conversation."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import defaultdict
from contextlib import AsyncExitStack

import pytest
from aiohttp import web

from libs.contracts import OutboundMessage
from libs.messaging import publish_many

CONVERSATIONS = int(os.environ.get("SB_TEST_ORDER_CONVERSATIONS", "500"))
REPLIES = int(os.environ.get("SB_TEST_ORDER_REPLIES", "20"))  # per conversation: 10,000 replies in all


class Provider:
    """The Graph API: answers 200 with a new wamid, or 500 the first time it sees one in twenty texts."""

    def __init__(self) -> None:
        self.accepted: dict[str, list[int]] = defaultdict(list)  # recipient -> reply numbers, in arrival order
        self.refused: set[str] = set()
        self.requests = 0
        self.done = asyncio.Event()
        self.expected = 0
        self.count = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        text = body["text"]["body"]
        await asyncio.sleep(random.random() * 0.002)
        if hash(text) % 20 == 0 and text not in self.refused:
            self.refused.add(text)
            return web.json_response({"error": {"message": "temporarily unavailable", "code": 2}}, status=500)
        conv, n = text.split("#")
        self.accepted[conv].append(int(n))
        self.count += 1
        if self.count >= self.expected:
            self.done.set()
        return web.json_response({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{text}"}]})


def reorderings(accepted: dict[str, list[int]]) -> int:
    """Replies that arrived after a later reply of the same conversation (a resend of one already accepted,
    after a lost answer, is not a reordering: only first arrivals count)."""
    count = 0
    for numbers in accepted.values():
        seen: set[int] = set()
        highest = -1
        for n in numbers:
            if n in seen:
                continue
            seen.add(n)
            if n < highest:
                count += 1
            highest = max(highest, n)
    return count


def test_the_reordering_count_can_fail():
    assert reorderings({"a": [0, 1, 2, 1], "b": [0, 2, 1]}) == 1
    assert reorderings({"a": [0, 1, 2]}) == 0


@pytest.mark.timeout(600)
async def test_replies_reach_the_provider_in_order_through_three_replicas(make_app, nats_js, unique):
    provider = Provider()
    provider.expected = CONVERSATIONS * REPLIES
    peer = web.Application()
    peer.router.add_post("/{version}/{phone}/messages", provider.handle)
    runner = web.AppRunner(peer)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cid = f"order-{unique}"
    async with AsyncExitStack() as replicas:
        # provider_attempts=1: every refusal goes back to JetStream as a nak and comes again after a backoff.
        apps = [await replicas.enter_async_context(make_app(provider_attempts=1, outbound_max_deliver=20))
                for _ in range(3)]
        resp = await apps[0].post("/channels", json={
            "id": cid, "type": "whatsapp", "app_secret": "s", "access_token": "t", "phone_number_id": "555",
            "base_url": f"http://127.0.0.1:{port}"})
        assert resp.status == 201, await resp.text()
        await asyncio.sleep(0.5)  # every replica's registry has the channel from the KV watch
        commands = [OutboundMessage(channel_id=cid, channel_type="whatsapp", to=f"+5491100{c:05d}",
                                    conversation_id=f"conv-{unique}-{c}", text=f"c{c}#{n}")
                    for n in range(REPLIES) for c in range(CONVERSATIONS)]  # interleaved, as agents type
        began = time.monotonic()
        _, js = nats_js
        for i in range(0, len(commands), 500):
            await publish_many(js, commands[i:i + 500], timeout=30)
        await asyncio.wait_for(provider.done.wait(), 480)
        elapsed = time.monotonic() - began
    await runner.cleanup()
    print(f"\n{len(commands)} replies over {CONVERSATIONS} conversations through 3 replicas in {elapsed:.1f} s "
          f"({provider.requests} provider requests, {len(provider.refused)} refused and retried)")
    assert sum(len(set(v)) for v in provider.accepted.values()) == len(commands)
    assert len(provider.refused) > len(commands) // 40  # the retries really happened
    assert reorderings(provider.accepted) == 0


async def test_a_dead_lettered_reply_does_not_hold_up_the_next_ones(make_app, nats_js, streams, unique):
    """The first reply is refused for good (dead-lettered with its reason); the later ones still go, in order."""
    sent: list[str] = []

    async def graph(request: web.Request) -> web.Response:
        text = (await request.json())["text"]["body"]
        if text == "first":
            return web.json_response({"error": {"message": "(#131026) Message undeliverable", "code": 131026}},
                                     status=400)
        sent.append(text)
        return web.json_response({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{text}"}]})

    peer = web.Application()
    peer.router.add_post("/{version}/{phone}/messages", graph)
    runner = web.AppRunner(peer)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cid = f"dl-{unique}"
    try:
        async with make_app() as one, make_app() as two:
            resp = await one.post("/channels", json={"id": cid, "type": "whatsapp", "app_secret": "s",
                                                     "access_token": "t", "phone_number_id": "555",
                                                     "base_url": f"http://127.0.0.1:{port}"})
            assert resp.status == 201
            await asyncio.sleep(0.5)
            texts = ["first", "second", "third", "fourth"]
            cmds = [OutboundMessage(channel_id=cid, channel_type="whatsapp", to="+5491100000001",
                                    conversation_id=f"conv-{unique}", text=t) for t in texts]
            await publish_many(nats_js[1], cmds)
            for _ in range(200):
                if len(sent) == 3:
                    break
                await asyncio.sleep(0.05)
            assert two is not None
    finally:
        await runner.cleanup()
    assert sent == ["second", "third", "fourth"]
    dead = await streams.wait_read("DEADLETTER", "sb.dlq.OUTBOUND.channels-outbound", 1,
                                   where=lambda m: m.get("id") == cmds[0].id)
    assert "undeliverable" in dead[0][0]["Sb-Dlq-Reason"]
