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


async def test_staff_close_and_move_waiting_conversations_and_the_channel_index_follows(
        nats_js, router, events, unique, kit):
    """Issue 13 item 12: a supervisor or admin (``by_user_id``) closes or moves a conversation nobody holds
    (waiting: stranded, say, by a channel about to go), with the campaign's checks; ``chopen:<channel>`` counts
    what is open on each channel (what keeps channels from deleting it), refilled from ``open_all`` for state
    kept from before it."""
    from services.router.keys import ROUTER

    _, js = nats_js
    agent, channel, other = f"agent-{unique}", f"ch-{unique}", f"{unique}-2"
    await kit.put_campaign(js, kit.campaign(other, agents=[]))  # nobody there: a moved one waits
    await kit.put_campaign(js, kit.campaign(unique, routing={"agent_capacity": 1},
                                            permissions={"close_without_reply": False}))
    await kit.status(router, agent, "available")
    for n in range(3):
        await kit.send(js, kit.inbound(channel, f"+3460070{n}", 1))
    [held] = await events.wait_for("conversation.assigned", channel_id=channel)

    for _ in range(100):
        items = (await kit.get_json(router, f"/queues/camp-{unique}/waiting"))["items"]
        if len(items) == 2:
            break
        await asyncio.sleep(0.05)
    moving, closing = (i["conversation_id"] for i in items)

    async def on_channel() -> set[str]:
        body = await kit.get_json(router, f"/channels/{channel}/conversations")
        assert body["open"] == len(body["items"])
        return {i["id"] for i in body["items"]}

    assert await on_channel() == {held.conversation_id, moving, closing}
    # Nobody named: refused, field-named; an agent may not (transfers between campaigns are off); nor to a
    # campaign that does not exist. Nothing changed.
    for body, code, field in (({"to_campaign_id": f"camp-{other}"}, 400, "agent_id"),
                              ({"agent_id": agent, "to_campaign_id": f"camp-{other}"}, 400, "to_campaign_id"),
                              ({"by_user_id": "sup-1", "to_campaign_id": "nowhere"}, 400, "to_campaign_id")):
        resp = await router.post(f"/conversations/{moving}/transfer", json=body)
        assert resp.status == code and (await resp.json())["error"]["field"] == field, (body, await resp.text())
    resp = await router.post(f"/conversations/{closing}/close", json={"by_user_id": "sup-1", "typification_id": "x"})
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "typification_id"
    assert (await kit.get_json(router, f"/conversations/{moving}"))["state"] == "queued"

    # Moved by a supervisor (the campaigns are not linked and transfers are off for agents: staff may).
    resp = await router.post(f"/conversations/{moving}/transfer",
                             json={"by_user_id": "sup-1", "to_campaign_id": f"camp-{other}"})
    assert resp.status == 200, await resp.text()
    moved = await kit.get_json(router, f"/conversations/{moving}")
    assert (moved["campaign_id"], moved["state"], moved["agent_id"]) == (f"camp-{other}", "queued", None)
    [fact] = await events.wait_for("conversation.transferred", conversation_id=moving)
    assert (fact.from_agent_id, fact.to_campaign_id) == (None, f"camp-{other}")
    # Closed by a supervisor, waiting and unanswered; and the assigned one, which frees the agent.
    for cid in (closing, held.conversation_id):
        resp = await router.post(f"/conversations/{cid}/close", json={
            "by_user_id": "sup-1", "typification_id": "sold", "fields": {"dni": "1"}})
        assert resp.status == 200 and (await resp.json())["state"] == "closed", await resp.text()
    assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 0
    assert await on_channel() == {moving}  # it still came in on the channel

    # State kept by a router from before the index: refilled at start-up from the open conversations.
    store = router.app[ROUTER].store
    await store.r.delete(store.key("chopen", channel))
    assert await on_channel() == set()
    assert await store.index_open_by_channel() >= 1
    assert await on_channel() == {moving}
    resp = await router.post(f"/conversations/{moving}/close", json={
        "by_user_id": "sup-1", "typification_id": "sold", "fields": {"dni": "1"}})
    assert resp.status == 200, await resp.text()
    assert await on_channel() == set()
