"""Business hours: out of hours close with a message, or hold until opening and release oldest first."""

from __future__ import annotations

import asyncio


async def test_out_of_hours_close_sends_the_message_and_closes(nats_js, router, events, unique, kit):
    _, js = nats_js
    await kit.put_campaign(js, kit.campaign(unique, schedule={"timezone": "America/Bogota"},
                                            out_of_hours={"action": "close", "send_message": True,
                                                          "message": "Estamos cerrados"}))
    await kit.status(router, f"agent-{unique}", "available")
    await kit.send(js, kit.inbound(f"ch-{unique}", "+571", 1))
    [closed] = await events.wait_for("conversation.closed", channel_id=f"ch-{unique}")
    assert closed.reason == "out_of_hours"
    [reply] = await events.wait_for("outbound.message", channel_id=f"ch-{unique}")
    assert reply.text == "Estamos cerrados" and reply.to == "+571" and reply.conversation_id == closed.conversation_id
    assert not events.of("conversation.assigned", channel_id=f"ch-{unique}")
    assert (await kit.get_json(router, f"/agents/agent-{unique}"))["load"] == 0


async def test_out_of_hours_queue_releases_oldest_first_with_rate_cap(nats_js, router_settings, timers, events,
                                                                      unique, kit):
    _, js = nats_js
    agents = [f"agent-{unique}-a", f"agent-{unique}-b"]
    snap = kit.campaign(unique, agents=agents, schedule=kit.opening_in(3.0),
                        out_of_hours={"action": "queue", "send_message": True, "message": "Abrimos pronto"},
                        routing={"agent_capacity": 5, "release_rate_per_agent": 1})
    await kit.put_campaign(js, snap)
    async with kit.running_router(router_settings.model_copy(update={"release_interval_s": 2.5})) as router:
        for a in agents:
            await kit.status(router, a, "available")
        contacts = [f"+57{n}" for n in range(6)]
        for c in contacts:
            await kit.send(js, kit.inbound(f"ch-{unique}", c, 1))
            await asyncio.sleep(0.002)  # arrival order is kept to the millisecond
        queued = await events.wait_for("conversation.queued", 6, channel_id=f"ch-{unique}", reason="out_of_hours")
        assert all(q.release_at is not None for q in queued)
        replies = await events.wait_for("outbound.message", 6, channel_id=f"ch-{unique}")
        assert {r.text for r in replies} == {"Abrimos pronto"}
        assert not events.of("conversation.assigned", channel_id=f"ch-{unique}")
        view = await kit.get_json(router, f"/queues/camp-{unique}")
        assert view["out_of_hours"] == 6 and view["queued"] == 0
        order = {q.conversation_id: q.contact_address for q in queued}

        # At opening, one per available agent per interval, oldest first.
        first = await events.wait_for("conversation.assigned", 2, channel_id=f"ch-{unique}", timeout=15)
        assert sorted(order[a.conversation_id] for a in first) == contacts[:2]
        assert (await kit.get_json(router, f"/queues/camp-{unique}"))["out_of_hours"] == 4
        assigned = await events.wait_for("conversation.assigned", 6, channel_id=f"ch-{unique}", timeout=20)
        assert [order[a.conversation_id] for a in assigned][2:4] in (contacts[2:4], contacts[3:1:-1])
        assert {a.agent_id for a in assigned} == set(agents)
