"""Transfers between agents and campaigns, queue position, priority and estimated wait."""

from __future__ import annotations

import asyncio


async def test_transfers_move_capacity_only_where_allowed(nats_js, router, events, unique, kit):
    _, js = nats_js
    a, b, c = f"agent-{unique}-a", f"agent-{unique}-b", f"agent-{unique}-c"
    other = f"{unique}-2"
    await kit.put_campaign(js, kit.campaign(other, agents=[c]))
    await kit.put_campaign(js, kit.campaign(unique, agents=[a, b], linked_campaigns=[f"camp-{other}"],
                                            permissions={"transfer_between_campaigns": True}))
    for agent in (a, b, c):
        await kit.status(router, agent, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [first] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    cid = first.conversation_id
    owner = first.agent_id
    target = b if owner == a else a

    bad = [({"agent_id": owner, "to_agent_id": c}, 400, "to_agent_id"),
           ({"agent_id": target, "to_agent_id": owner}, 403, "agent_id"),
           ({"agent_id": owner, "to_campaign_id": "nowhere"}, 400, "to_campaign_id"),
           ({"agent_id": owner, "to_agent_id": target, "to_campaign_id": f"camp-{other}"}, 400, "to_agent_id")]
    for body, code, field in bad:
        resp = await router.post(f"/conversations/{cid}/transfer", json=body)
        assert resp.status == code and (await resp.json())["error"]["field"] == field, body
    assert (await kit.get_json(router, f"/conversations/{cid}"))["agent_id"] == owner

    resp = await router.post(f"/conversations/{cid}/transfer", json={"agent_id": owner, "to_agent_id": target})
    assert resp.status == 200, await resp.text()
    [moved] = await events.wait_for("conversation.transferred", conversation_id=cid)
    assert (moved.from_agent_id, moved.to_agent_id, moved.typification_id) == (owner, target, "no-sale")
    await events.wait_for("conversation.assigned", conversation_id=cid, agent_id=target)
    assert (await kit.get_json(router, f"/agents/{owner}"))["load"] == 0
    assert (await kit.get_json(router, f"/agents/{target}"))["load"] == 1

    resp = await router.post(f"/conversations/{cid}/transfer",
                             json={"agent_id": target, "to_campaign_id": f"camp-{other}"})
    assert resp.status == 200, await resp.text()
    await events.wait_for("conversation.assigned", conversation_id=cid, agent_id=c)
    conv = await kit.get_json(router, f"/conversations/{cid}")
    assert conv["campaign_id"] == f"camp-{other}" and conv["agent_id"] == c
    assert (await kit.get_json(router, f"/agents/{target}"))["load"] == 0
    # The other campaign does not allow transfers between campaigns.
    resp = await router.post(f"/conversations/{cid}/transfer", json={"agent_id": c, "to_campaign_id": f"camp-{unique}"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "to_campaign_id"


async def test_queue_position_priority_and_estimated_wait(nats_js, router, events, unique, kit):
    _, js = nats_js
    agent = f"agent-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, routing={"agent_capacity": 1}))
    for n in range(4):
        await kit.send(js, kit.inbound(f"ch-{unique}", f"+{n}", 1))
        await asyncio.sleep(0.002)  # arrival order is kept to the millisecond
    queued = await events.wait_for("conversation.queued", 4, channel_id=f"ch-{unique}")
    by_contact = {q.contact_address: q.conversation_id for q in queued}
    # Arrival order holds even though three replicas took the messages in parallel.
    ids = [by_contact[f"+{n}"] for n in range(4)]
    view = await kit.get_json(router, f"/queues/camp-{unique}")
    assert [i["conversation_id"] for i in view["items"]] == ids
    last = await kit.get_json(router, f"/conversations/{ids[3]}")
    assert last["position"] == 4 and last["queue"] == "queue"

    resp = await router.put(f"/conversations/{ids[3]}/priority", json={"priority": 10})
    assert resp.status == 200 and (await resp.json())["position"] == 1
    resp = await router.put(f"/conversations/{ids[3]}/priority", json={"priority": "high"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "priority"
    view = await kit.get_json(router, f"/queues/camp-{unique}")
    assert [i["conversation_id"] for i in view["items"]] == [ids[3], *ids[:3]]

    # Assignments teach the campaign its pace; then a waiting conversation gets an estimate.
    await kit.status(router, agent, "available")
    for n in range(2):
        await events.wait_for("conversation.assigned", n + 1, channel_id=f"ch-{unique}")
        a = events.of("conversation.assigned", channel_id=f"ch-{unique}")[n]
        await kit.close_ok(router, a.conversation_id, agent)
    await events.wait_for("conversation.assigned", 3, channel_id=f"ch-{unique}")
    assigned = [a.conversation_id for a in events.of("conversation.assigned", channel_id=f"ch-{unique}")]
    assert assigned == [ids[3], ids[0], ids[1]]
    waiting = await kit.get_json(router, f"/conversations/{ids[2]}")
    assert waiting["position"] == 1 and waiting["estimated_wait_s"] is not None
    view = await kit.get_json(router, f"/queues/camp-{unique}")
    assert view["queued"] == 1 and view["assigned_total"] == 3
    since = view["agents"][0].pop("since")
    assert view["agents"] == [{"agent_id": agent, "status": "available", "reason": None, "load": 1, "capacity": 1}]
    assert since is not None  # when the agent became available: the dashboard's time in state
