"""Assignment strategies: longest idle, least busy, round robin, and sticky with fallback."""

from __future__ import annotations

import pytest

from libs.contracts.owners import OWNERS_BUCKET, OwnerEntry, channel_key


@pytest.mark.parametrize(("strategy", "close_first", "expected"), [
    ("longest_idle", False, "a"), ("longest_idle", True, "b"),
    ("least_busy", False, "b"), ("least_busy", True, "a"),
    ("round_robin", False, "a"), ("round_robin", True, "a"),
])
async def test_strategy_picks_its_agent(nats_js, router, events, unique, kit, strategy, close_first, expected):
    _, js = nats_js
    a, b = f"agent-{unique}-a", f"agent-{unique}-b"
    ch = f"ch-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, agents=[a, b],
                                            routing={"strategy": strategy, "agent_capacity": 3}))
    await kit.status(router, a, "available")
    for n in (1, 2):
        await kit.send(js, kit.inbound(ch, f"+{n}", 1))
        await events.wait_for("conversation.assigned", n, channel_id=ch, agent_id=a)
    await kit.status(router, b, "available")
    await kit.send(js, kit.inbound(ch, "+3", 1))
    await events.wait_for("conversation.assigned", channel_id=ch, agent_id=b)
    if close_first:
        first = events.of("conversation.assigned", channel_id=ch)[0]
        await kit.close_ok(router, first.conversation_id, a)
    await kit.send(js, kit.inbound(ch, "+4", 1))
    [fourth] = await events.wait_for("conversation.assigned", channel_id=ch, contact_address="+4")
    assert fourth.agent_id == {"a": a, "b": b}[expected]
    assert fourth.explanation["strategy"] == strategy and fourth.explanation["tie_break"]


async def test_sticky_prefers_the_last_agent_and_falls_back(nats_js, router, events, unique, kit):
    _, js = nats_js
    a, b = f"agent-{unique}-a", f"agent-{unique}-b"
    ch = f"ch-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, agents=[a, b], routing={"strategy": "sticky"}))
    await kit.status(router, b, "available")
    await kit.send(js, kit.inbound(ch, "+1", 1))
    [first] = await events.wait_for("conversation.assigned", channel_id=ch)
    assert first.agent_id == b
    await kit.status(router, a, "available")
    await kit.close_ok(router, first.conversation_id, b)

    # b is less idle than a now, but the contact comes back to b.
    await kit.send(js, kit.inbound(ch, "+1", 2))
    second = (await events.wait_for("conversation.assigned", 2, channel_id=ch))[1]
    assert second.agent_id == b and second.explanation["tie_break"].startswith("sticky: last agent")
    await kit.close_ok(router, second.conversation_id, b)

    # b is unavailable: fall back to another agent, and say why.
    await kit.status(router, b, "break", reason="lunch")
    await kit.send(js, kit.inbound(ch, "+1", 3))
    third = (await events.wait_for("conversation.assigned", 3, channel_id=ch))[2]
    assert third.agent_id == a
    assert third.explanation["sticky"] == {"agent": b, "source": "last agent", "excluded": "status break",
                                           "fallback": "first available agent"}

    # The account's assigned user (the CRM's owner index in KV) is preferred too.
    await kit.status(router, b, "available")
    owners = await js.key_value(OWNERS_BUCKET)
    await owners.put(channel_key("whatsapp", "+9"), OwnerEntry(owners={f"camp-{unique}": b}).model_dump_json().encode())
    await kit.send(js, kit.inbound(ch, "+9", 1))
    [owned] = await events.wait_for("conversation.assigned", channel_id=ch, contact_address="+9")
    assert owned.agent_id == b and "account owner" in owned.explanation["tie_break"]
