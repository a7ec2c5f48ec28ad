"""If Redis loses the live state, the router rebuilds it from the streams and no open conversation is lost."""

from __future__ import annotations

import asyncio

from services.router.keys import ROUTER


async def test_live_state_is_rebuilt_after_redis_loses_it(nats_js, router_settings, events, unique, kit):
    _, js = nats_js
    agent = f"agent-{unique}"
    ch = f"ch-{unique}"
    await kit.put_campaign(js, kit.campaign(unique))
    settings = router_settings.model_copy(update={"key_prefix": f"sb:r{unique}:"})
    async with kit.running_router(settings) as router:
        await kit.status(router, agent, "available")
        for n in range(4):
            await kit.send(js, kit.inbound(ch, f"+{n}", 1, f"first from {n}"))
            await asyncio.sleep(0.002)  # arrival order is kept to the millisecond
        assigned = await events.wait_for("conversation.assigned", 2, channel_id=ch)
        # The two assigned at once were never announced as queued; the other two were.
        await events.wait_for("conversation.queued", 2, channel_id=ch)
        opened = await events.wait_for("conversation.opened", 4, channel_id=ch)
        by_contact = {o.contact_address: o.conversation_id for o in opened}
        taken = {a.conversation_id for a in assigned}
        waiting = [by_contact[f"+{n}"] for n in range(4) if by_contact[f"+{n}"] not in taken]
        await kit.close_ok(router, assigned[1].conversation_id, agent)
        third = (await events.wait_for("conversation.assigned", 3, channel_id=ch))[2]
        assert third.conversation_id == waiting[0]

        # Redis loses everything of this router.
        store = router.app[ROUTER].store
        keys = [k async for k in store.r.scan_iter(match=f"sb:r{unique}:*", count=1000)]
        await store.r.delete(*keys)

        # The next message finds the state missing, the router rebuilds, and the message is redelivered.
        first = assigned[0]
        await kit.send(js, kit.inbound(ch, first.contact_address, 2, "still here"))
        msgs = await events.wait_for("conversation.message", 2, conversation_id=first.conversation_id, timeout=20)
        assert msgs[1].text == "still here" and msgs[1].seq > msgs[0].seq
        conv = await kit.get_json(router, f"/conversations/{first.conversation_id}")
        assert conv["state"] == "assigned" and conv["agent_id"] == agent
        assert [m["text"] for m in conv["messages"]] == [f"first from {first.contact_address[1:]}", "still here"]
        assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 2
        view = await kit.get_json(router, f"/queues/camp-{unique}")
        assert [i["conversation_id"] for i in view["items"]] == waiting[1:]

        # Capacity accounting survived: a close hands the agent the next waiting conversation.
        await kit.close_ok(router, first.conversation_id, agent)
        fourth = (await events.wait_for("conversation.assigned", 4, channel_id=ch))[3]
        assert fourth.conversation_id == waiting[1] and fourth.agent_id == agent
