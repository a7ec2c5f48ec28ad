"""Under concurrency with three replicas: nobody over capacity, never double-assigned, queue drains on close."""

from __future__ import annotations

import asyncio
from collections import Counter


async def test_many_conversations_and_agents_respect_capacity(nats_js, routers, events, unique, kit):
    _, js = nats_js
    agents = [f"agent-{unique}-{i}" for i in range(6)]
    await kit.put_campaign(js, kit.campaign(unique, agents=agents, routing={"agent_capacity": 2}))
    await asyncio.sleep(0.3)
    contacts = [f"+54911{n:08d}" for n in range(30)]
    msgs = [kit.inbound(f"ch-{unique}", c, k, f"{c}-{k}") for c in contacts for k in range(2)]

    # Messages and agents becoming available race each other, spread over three replicas.
    await asyncio.gather(*(kit.send(js, m) for m in msgs),
                         *(kit.status(routers[i % 3], a, "available") for i, a in enumerate(agents)))
    assigned = await events.wait_for("conversation.assigned", 12, channel_id=f"ch-{unique}", timeout=20)
    await events.wait_for("conversation.message", 60, channel_id=f"ch-{unique}", timeout=20)
    await asyncio.sleep(0.5)
    assigned = events.of("conversation.assigned", channel_id=f"ch-{unique}")
    assert len(assigned) == 12
    assert len({a.conversation_id for a in assigned}) == 12  # never assigned twice
    assert max(Counter(a.agent_id for a in assigned).values()) == 2
    for a in agents:
        assert (await kit.get_json(routers[0], f"/agents/{a}"))["load"] == 2
    queue = await kit.get_json(routers[1], f"/queues/camp-{unique}")
    assert queue["queued"] == 18 and [i["position"] for i in queue["items"]] == list(range(1, 19))
    assert len(events.of("conversation.opened", channel_id=f"ch-{unique}")) == 30

    # Closing frees capacity and the queue drains at once, event driven, oldest first.
    first_waiting = queue["items"][0]["conversation_id"]
    closes = [routers[i % 3].post(f"/conversations/{a.conversation_id}/close",
                                  json={"agent_id": a.agent_id, "typification_id": "sold", "fields": {"dni": "1"}})
              for i, a in enumerate(assigned)]
    for resp in await asyncio.gather(*closes):
        assert resp.status == 200, await resp.text()
    await events.wait_for("conversation.assigned", 24, channel_id=f"ch-{unique}", timeout=20)
    await asyncio.sleep(0.3)
    second = events.of("conversation.assigned", channel_id=f"ch-{unique}")[12:]
    assert len(second) == 12 and first_waiting in {a.conversation_id for a in second}
    assert len({a.conversation_id for a in events.of("conversation.assigned", channel_id=f"ch-{unique}")}) == 24
    assert max(Counter(a.agent_id for a in second).values()) == 2
    for a in agents:
        assert (await kit.get_json(routers[2], f"/agents/{a}"))["load"] == 2
    assert (await kit.get_json(routers[0], f"/queues/camp-{unique}"))["queued"] == 6


async def test_weighted_capacity_call_takes_the_whole_agent(nats_js, router, events, unique, kit):
    _, js = nats_js
    agent = f"agent-{unique}"
    snap = kit.campaign(unique, routing={"agent_capacity": 3, "weights": {"voice": 3}},
                        channels=[{"id": f"ch-{unique}", "type": "whatsapp"}, {"id": f"v-{unique}", "type": "voice"}])
    await kit.put_campaign(js, snap)
    await asyncio.sleep(0.2)
    await kit.status(router, agent, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    # A call needs 3 units; the agent has 2 free: it waits, and a chat behind it still gets in.
    await kit.send(js, kit.inbound(f"v-{unique}", "+2", 1, channel_type="voice"))
    await events.wait_for("conversation.queued", channel_id=f"v-{unique}")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+3", 1))
    await events.wait_for("conversation.assigned", 2, channel_id=f"ch-{unique}")
    assert not events.of("conversation.assigned", channel_id=f"v-{unique}")
    assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 2
    for a in events.of("conversation.assigned", channel_id=f"ch-{unique}"):
        resp = await router.post(f"/conversations/{a.conversation_id}/close",
                                 json={"agent_id": agent, "typification_id": "sold", "fields": {"dni": "1"}})
        assert resp.status == 200
    [call] = await events.wait_for("conversation.assigned", channel_id=f"v-{unique}")
    assert call.agent_id == agent
    assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 3
