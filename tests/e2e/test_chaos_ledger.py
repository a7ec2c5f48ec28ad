"""The chaos ledger counts what it must: histories with known faults in them, reconciled without a platform."""

from __future__ import annotations

from bench._chaos_ledger import Event, Sources, reconcile


def ev(type_: str, cid: str, seq: int, at: float, agent: str | None = None, **kw: object) -> Event:
    return Event(type=f"conversation.{type_}", id=f"{cid}-{seq}", conversation_id=cid, seq=seq, agent_id=agent,
                 at=at, stored=at, contact=str(kw.pop("contact", "+1")), **kw)  # type: ignore[arg-type]


def msg(cid: str, seq: int, at: float, pid: str, **kw: object) -> Event:
    return ev("message", cid, seq, at, direction="in", provider_message_id=pid, **kw)


def conversation(cid: str, agent: str, start: float, pid: str, contact: str = "+1") -> list[Event]:
    """Opened, one message, queued, offered, assigned, closed: a clean life."""
    return [ev("opened", cid, 1, start, contact=contact), msg(cid, 2, start, pid, contact=contact),
            ev("queued", cid, 3, start + 0.1, contact=contact),
            ev("offered", cid, 4, start + 0.2, agent, contact=contact),
            ev("assigned", cid, 5, start + 0.3, agent, contact=contact),
            ev("closed", cid, 6, start + 1.0, agent, contact=contact)]


def sources(events: list[Event], **kw: object) -> Sources:
    pids = {e.provider_message_id for e in events if e.provider_message_id}
    base: dict[str, object] = dict(
        acked=set(pids), inbound=set(pids), events=events,
        crm_messages=[(e.provider_message_id, e.id, e.conversation_id) for e in events if e.provider_message_id],
        crm_conversations={e.conversation_id: ("closed", e.agent_id) for e in events
                           if e.type == "conversation.closed"},
        router_conversations={}, replies_accepted={}, replies_tried=set(), peer_texts=[], capacity=1)
    base.update(kw)
    return Sources(**base)  # type: ignore[arg-type]


def test_a_clean_history_counts_nothing():
    events = conversation("c1", "ana", 0.0, "w1") + conversation("c2", "ana", 2.0, "w2")
    led = reconcile(sources(events, replies_accepted={"r1": "c1"}, replies_tried={"r1"}, peer_texts=["r1"]))
    assert led.failed() == [] and led.acknowledged == 2


def test_lost_duplicated_and_missing_in_the_crm_are_counted():
    events = [*conversation("c1", "ana", 0.0, "w1"), msg("c1", 7, 0.5, "w1")]  # w1 twice in one conversation
    led = reconcile(sources(events, acked={"w1", "w2"}, inbound={"w1", "w2"}))
    assert (led.lost, led.duplicated) == (1, 1)  # w2 acknowledged but never decided; w1 in two message events


def test_an_offer_to_a_second_agent_without_a_release_is_a_double_assignment():
    events = conversation("c1", "ana", 0.0, "w1")
    events.insert(5, ev("offered", "c1", 6, 0.5, "bruno"))  # while ana holds it
    events[-1].seq = 7
    assert reconcile(sources(events, capacity=3)).double_assigned == 1


def test_capacity_follows_the_order_the_router_decided_in():
    # bruno's second conversation is assigned 0.1 s before his first closes: over capacity (1).
    first = conversation("c1", "bruno", 0.0, "w1")
    second = conversation("c2", "bruno", 0.75, "w2", contact="+2")
    assert reconcile(sources(first + second)).over_capacity == 1
    # Decided after the close (even if stored earlier), it is fine.
    later = conversation("c2", "bruno", 0.95, "w2", contact="+2")
    later[3].stored = later[4].stored = 0.0
    assert reconcile(sources(first + later)).over_capacity == 0


def test_router_and_crm_must_agree_on_state_and_agent():
    events = conversation("c1", "ana", 0.0, "w1")[:5]  # assigned, not closed
    agree = sources(events, crm_conversations={"c1": ("assigned", "ana")},
                    router_conversations={"c1": ("assigned", "ana")})
    assert reconcile(agree).router_crm_disagree == 0
    other_agent = sources(events, crm_conversations={"c1": ("assigned", "bruno")},
                          router_conversations={"c1": ("assigned", "ana")})
    assert reconcile(other_agent).router_crm_disagree == 1
    assert reconcile(sources(events, router_conversations={"c1": ("assigned", "ana")})).router_crm_disagree == 1


def test_replies_reach_the_provider_exactly_once():
    events = conversation("c1", "ana", 0.0, "w1")
    twice = sources(events, replies_accepted={"r1": "c1"}, replies_tried={"r1"}, peer_texts=["r1", "r1"])
    assert reconcile(twice).replies_duplicated == 1
    never = sources(events, replies_accepted={"r1": "c1"}, replies_tried={"r1"}, peer_texts=[])
    assert reconcile(never).replies_lost == 1


def test_a_contact_with_two_open_conversations_at_once_is_counted():
    events = conversation("c1", "ana", 0.0, "w1") + conversation("c2", "bruno", 0.5, "w2")  # same contact
    assert reconcile(sources(events, capacity=3)).contact_overlaps == 1
