"""Rules driven by the scheduler's timers: overflow, inactivity close, first-reply re-queue."""

from __future__ import annotations

import asyncio


async def test_overflow_to_another_campaign_after_max_wait(nats_js, router, timers, events, unique, kit):
    _, js = nats_js
    other = f"{unique}-2"
    await kit.put_campaign(js, kit.campaign(other, agents=[f"agent-{other}"]))
    await kit.put_campaign(js, kit.campaign(unique, routing={"max_wait_s": 0.5, "overflow": "campaign",
                                                             "overflow_campaign_id": f"camp-{other}"}))
    await kit.status(router, f"agent-{other}", "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [q] = await events.wait_for("conversation.queued", channel_id=f"ch-{unique}", reason="overflow")
    assert q.campaign_id == f"camp-{other}"
    [a] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    assert a.agent_id == f"agent-{other}" and a.campaign_id == f"camp-{other}"


async def test_overflow_close(nats_js, router, timers, events, unique, kit):
    _, js = nats_js
    await kit.put_campaign(js, kit.campaign(unique, routing={"max_wait_s": 0.3, "overflow": "close"}))
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [closed] = await events.wait_for("conversation.closed", channel_id=f"ch-{unique}")
    assert closed.reason == "overflow"
    assert (await kit.get_json(router, f"/queues/camp-{unique}"))["queued"] == 0


async def test_inactivity_closes_with_the_inactivity_typification(nats_js, router, timers, events, unique, kit):
    _, js = nats_js
    agent = f"agent-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, inactivity_timeout_s=1.0))
    await kit.status(router, agent, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [a] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    await asyncio.sleep(0.6)
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 2, "sigo aquí"))
    await events.wait_for("conversation.message", 2, conversation_id=a.conversation_id)
    [closed] = await events.wait_for("conversation.closed", conversation_id=a.conversation_id, timeout=15)
    assert closed.reason == "inactivity" and closed.typification_id == "no-sale"
    # The second message re-armed the timer: the close came after its full timeout.
    second = events.of("conversation.message", conversation_id=a.conversation_id)[1]
    assert (closed.occurred_at - second.occurred_at).total_seconds() >= 1.0
    assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 0


async def test_first_reply_timeout_requeues_to_another_agent(nats_js, router, timers, events, unique, kit):
    _, js = nats_js
    a, b = f"agent-{unique}-a", f"agent-{unique}-b"
    await kit.put_campaign(js, kit.campaign(unique, agents=[a, b], routing={"first_reply_timeout_s": 0.5}))
    await kit.status(router, a, "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+1", 1))
    [first] = await events.wait_for("conversation.assigned", channel_id=f"ch-{unique}")
    assert first.agent_id == a
    await kit.status(router, b, "available")
    await events.wait_for("conversation.queued", channel_id=f"ch-{unique}", reason="first_reply_timeout")
    [_, second] = await events.wait_for("conversation.assigned", 2, channel_id=f"ch-{unique}")
    assert second.agent_id == b
    resp = await router.post(f"/conversations/{first.conversation_id}/messages", json={"agent_id": b, "text": "hola"})
    assert resp.status == 201
    # b's timer fires, sees the reply, and leaves the conversation with b.
    timer = f"/timers/router/first_reply-{first.conversation_id}-2"
    for _ in range(50):
        resp = await timers.get(timer)
        if resp.status == 200 and (await resp.json())["state"] == "fired":
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    assert (await kit.get_json(router, f"/conversations/{first.conversation_id}"))["agent_id"] == b
    assert len(events.of("conversation.assigned", channel_id=f"ch-{unique}")) == 2
