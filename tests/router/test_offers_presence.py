"""Offers (accept, reject, timeout, missed-offer limit) and presence (offline re-queue or keep)."""

from __future__ import annotations


async def test_reject_passes_the_offer_on_and_accept_assigns(nats_js, router, events, unique, kit):
    _, js = nats_js
    x, y = f"agent-{unique}-x", f"agent-{unique}-y"
    await kit.put_campaign(js, kit.campaign(unique, agents=[x, y], routing={"offer_timeout_s": 30}))
    await kit.status(router, x, "available")
    await kit.status(router, y, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [offer] = await events.wait_for("conversation.offered", channel_id=f"ch-{unique}")
    cid = offer.conversation_id
    assert offer.agent_id == x and offer.expires_at is not None
    assert (await kit.get_json(router, f"/conversations/{cid}"))["state"] == "offered"

    resp = await router.post(f"/conversations/{cid}/accept", json={"agent_id": y})
    assert resp.status == 403 and (await resp.json())["error"]["field"] == "agent_id"
    resp = await router.post(f"/conversations/{cid}/messages", json={"agent_id": x, "text": "too early"})
    assert resp.status == 409
    resp = await router.post(f"/conversations/{cid}/reject", json={"agent_id": x})
    assert resp.status == 200, await resp.text()
    offers = await events.wait_for("conversation.offered", 2, channel_id=f"ch-{unique}")
    assert offers[1].agent_id == y
    resp = await router.post(f"/conversations/{cid}/accept", json={"agent_id": y})
    assert resp.status == 200 and (await resp.json())["state"] == "assigned"
    [assigned] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    assert assigned.agent_id == y
    resp = await router.post(f"/conversations/{cid}/accept", json={"agent_id": y})
    assert resp.status == 409

    decisions = (await kit.get_json(router, f"/conversations/{cid}/decisions"))["items"]
    assert [d["chosen"] for d in decisions] == [x, y, y]
    assert all(c["excluded"] == "rejected or missed this offer" for c in decisions[1]["considered"]
               if c["agent"] == x)
    assert decisions[2]["reason"] == "offer_accepted"
    assert (await kit.get_json(router, f"/agents/{x}"))["load"] == 0
    assert (await kit.get_json(router, f"/agents/{y}"))["load"] == 1


async def test_offer_timeouts_move_on_and_missed_offers_set_a_break(nats_js, router, timers, events, unique, kit):
    _, js = nats_js
    z, w = f"agent-{unique}-z", f"agent-{unique}-w"
    await kit.put_campaign(js, kit.campaign(unique, agents=[z, w],
                                            routing={"offer_timeout_s": 0.5, "max_missed_offers": 2}))
    await kit.status(router, z, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [first] = await events.wait_for("conversation.queued", channel_id=f"ch-{unique}", reason="offer_timeout")
    assert (await kit.get_json(router, f"/agents/{z}"))["missed_offers"] == 1
    await kit.send(js, kit.inbound(f"ch-{unique}", "+2", 1))
    await events.wait_for("conversation.queued", 2, channel_id=f"ch-{unique}", reason="offer_timeout")
    [brk] = await events.wait_for("agent.status", agent_id=z, status="break")
    assert brk.reason == "missed_offers"
    assert (await kit.get_json(router, f"/agents/{z}"))["status"] == "break"
    # Another agent arrives: both waiting conversations are offered to them, oldest first.
    await kit.status(router, w, "available")
    offers = await events.wait_for("conversation.offered", 2, channel_id=f"ch-{unique}", agent_id=w)
    assert offers[0].conversation_id == first.conversation_id


async def test_offline_agent_conversations_are_requeued_to_others(nats_js, router, events, unique, kit):
    _, js = nats_js
    p, q = f"agent-{unique}-p", f"agent-{unique}-q"
    await kit.put_campaign(js, kit.campaign(unique, agents=[p, q]))
    await kit.status(router, p, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [a] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    assert a.agent_id == p
    await kit.status(router, q, "available")
    await kit.status(router, p, "offline")
    await events.wait_for("conversation.queued", channel_id=f"ch-{unique}", reason="agent_offline")
    [_, again] = await events.wait_for("conversation.assigned", 2, channel_id=f"ch-{unique}")
    assert again.agent_id == q and again.conversation_id == a.conversation_id
    assert (await kit.get_json(router, f"/agents/{p}"))["load"] == 0
    # An offline agent receives nothing new.
    await kit.send(js, kit.inbound(f"ch-{unique}", "+2", 1))
    third = (await events.wait_for("conversation.assigned", 3, channel_id=f"ch-{unique}"))[2]
    assert third.agent_id == q


async def test_offline_agent_keeps_conversations_when_the_campaign_says_keep(nats_js, router, events, unique, kit):
    _, js = nats_js
    p = f"agent-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, routing={"on_agent_offline": "keep"}))
    await kit.status(router, p, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [a] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    body = await kit.status(router, p, "offline")
    assert body["status"] == "offline" and body["conversations"] == [a.conversation_id]
    assert (await kit.get_json(router, f"/conversations/{a.conversation_id}"))["state"] == "assigned"
    await events.wait_for("agent.status", agent_id=p, status="offline")
    # Back from offline with room: the queued conversation arrives immediately. (The first, assigned at once,
    # was never queued; keeping it through offline did not queue it either.)
    await kit.send(js, kit.inbound(f"ch-{unique}", "+2", 1))
    [waiting] = await events.wait_for("conversation.queued", channel_id=f"ch-{unique}")
    assert waiting.contact_address == "+2" and waiting.reason == "waiting"
    await kit.status(router, p, "available")
    await events.wait_for("conversation.assigned", 2, channel_id=f"ch-{unique}", agent_id=p)


async def test_agent_commands_on_the_stream_set_presence_and_close(nats_js, router, events, unique, kit):
    from libs.contracts import CloseConversation, SetPresence
    from libs.messaging import publish

    _, js = nats_js
    agent = f"agent-{unique}"
    await kit.put_campaign(js, kit.campaign(unique))
    await publish(js, SetPresence(agent_id=agent, status="available"))
    await events.wait_for("agent.status", agent_id=agent, status="available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [a] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    await publish(js, CloseConversation(agent_id=agent, conversation_id=a.conversation_id,
                                        typification_id="no-sale", fields={"dni": "9"}))
    [closed] = await events.wait_for("conversation.closed", conversation_id=a.conversation_id)
    assert closed.typification_id == "no-sale"
    assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 0
