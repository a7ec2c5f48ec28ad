"""Pure fan-out rules: who gets an event, and resume without loss or duplicates while live events race in."""

from __future__ import annotations

from libs.contracts import CampaignSnapshot
from libs.messaging import SnapshotDirectory
from services.gateway.domain import Principal
from services.gateway.fanout import AGENTS, CONVERSATIONS, Connection, Hub


def drain(conn: Connection) -> list[dict]:
    out = []
    while not conn.queue.empty():
        out.append(conn.queue.get_nowait())
    return out


def directory() -> SnapshotDirectory:
    d = SnapshotDirectory()
    d.put(CampaignSnapshot(id="camp-a", name="A", agents=["ana", "bob"], supervisors=["sofia"]))
    d.put(CampaignSnapshot(id="camp-b", name="B", agents=["carla"], supervisors=["other-sup"]))
    return d


def test_live_events_reach_the_named_agent_supervisors_and_admins_only():
    hub = Hub(directory())
    conns = {name: Connection(Principal(name, name, role), queue_size=100) for name, role in
             [("ana", "agent"), ("bob", "agent"), ("carla", "agent"), ("sofia", "supervisor"), ("root", "admin")]}
    for c in conns.values():
        hub.register(c)
    hub.dispatch(CONVERSATIONS, 1, {"type": "conversation.assigned", "conversation_id": "x", "agent_id": "ana",
                                    "campaign_id": "camp-a"})
    hub.dispatch(CONVERSATIONS, 2, {"type": "conversation.queued", "conversation_id": "y", "agent_id": None,
                                    "campaign_id": "camp-b"})
    hub.dispatch(AGENTS, 7, {"type": "agent.status", "agent_id": "bob", "status": "break"})
    got = {name: [(e["type"], e.get("seq"), e.get("agent_seq")) for e in drain(c)] for name, c in conns.items()}
    assert got["ana"] == [("conversation.assigned", 1, None)]
    assert got["bob"] == [("agent.status", 0, 7)]
    assert got["carla"] == []
    assert got["sofia"] == [("conversation.assigned", 1, None), ("agent.status", 1, 7)]
    assert got["root"] == [("conversation.assigned", 1, None), ("conversation.queued", 2, None),
                           ("agent.status", 2, 7)]


def test_transfer_reaches_both_agents_and_unnamed_events_follow_the_holder():
    hub = Hub(SnapshotDirectory())
    ana, bob = Connection(Principal("ana", "ana", "agent"), queue_size=10), \
        Connection(Principal("bob", "bob", "agent"), queue_size=10)
    hub.register(ana)
    hub.register(bob)
    hub.dispatch(CONVERSATIONS, 1, {"type": "conversation.assigned", "conversation_id": "x", "agent_id": "ana"})
    hub.dispatch(CONVERSATIONS, 2, {"type": "message.status", "conversation_id": "x", "status": "read"})
    hub.dispatch(CONVERSATIONS, 3, {"type": "conversation.transferred", "conversation_id": "x",
                                    "from_agent_id": "ana", "agent_id": "bob"})
    hub.dispatch(CONVERSATIONS, 4, {"type": "conversation.message", "conversation_id": "x", "text": "hi"})
    assert [e["seq"] for e in drain(ana)] == [1, 2, 3]
    assert [e["seq"] for e in drain(bob)] == [3, 4]


def test_resume_buffers_live_events_and_sends_each_once_in_order():
    hub = Hub(SnapshotDirectory())
    conn = Connection(Principal("ana", "ana", "agent"), queue_size=100, cursors={CONVERSATIONS: 10}, resuming=True)
    hub.register(conn)

    def ev(seq: int) -> dict:
        return {"type": "conversation.message", "conversation_id": "x", "agent_id": "ana", "text": str(seq)}

    # Live events arrive while the replay runs; some of them the replay also reads.
    hub.dispatch(CONVERSATIONS, 12, ev(12))
    hub.dispatch(CONVERSATIONS, 13, ev(13))
    for seq in (9, 10, 11, 12):  # the replay (9 and 10 are at or before the cursor)
        hub.replay_one(conn, CONVERSATIONS, seq, ev(seq))
    assert [e["seq"] for e in drain(conn)] == [11, 12]
    hub.dispatch(CONVERSATIONS, 14, ev(14))
    conn.go_live()
    hub.dispatch(CONVERSATIONS, 14, ev(14))  # a redelivery is dropped too
    hub.dispatch(CONVERSATIONS, 15, ev(15))
    assert [e["seq"] for e in drain(conn)] == [13, 14, 15]


def test_a_client_that_cannot_keep_up_is_marked_for_disconnection():
    conn = Connection(Principal("ana", "ana", "agent"), queue_size=2)
    for seq in (1, 2, 3):
        conn.deliver(CONVERSATIONS, seq, {"type": "t", "seq": seq})
    assert conn.overflowed.is_set()
    assert [e["seq"] for e in drain(conn)] == [1, 2]
    conn.deliver(CONVERSATIONS, 4, {"type": "t", "seq": 4})
    assert drain(conn) == []


def test_the_contracts_own_seq_is_kept_as_conversation_seq():
    hub = Hub(SnapshotDirectory())
    conn = Connection(Principal("ana", "ana", "agent"), queue_size=10)
    hub.register(conn)
    hub.dispatch(CONVERSATIONS, 99, {"type": "conversation.message", "conversation_id": "x", "agent_id": "ana",
                                     "seq": 3})
    [event] = drain(conn)
    assert event["seq"] == 99 and event["conversation_seq"] == 3 and event["stream"] == "conversations"
    hub.unregister(conn)
    assert hub.connections == 0


def test_messages_before_the_offer_reach_each_agent_it_is_offered_to_once():
    hub = Hub(SnapshotDirectory())
    ana, bob = Connection(Principal("ana", "ana", "agent"), queue_size=20), \
        Connection(Principal("bob", "bob", "agent"), queue_size=20)
    hub.register(ana)
    hub.register(bob)
    base = {"conversation_id": "x", "campaign_id": "c"}
    hub.dispatch(CONVERSATIONS, 5, {**base, "type": "conversation.opened", "agent_id": None})
    hub.dispatch(CONVERSATIONS, 6, {**base, "type": "conversation.message", "agent_id": None, "text": "hola"})
    hub.dispatch(CONVERSATIONS, 7, {**base, "type": "conversation.queued", "agent_id": None})
    hub.dispatch(CONVERSATIONS, 8, {**base, "type": "conversation.offered", "agent_id": "ana"})
    got = drain(ana)
    assert [(e["type"], e["seq"]) for e in got] == [("conversation.offered", 8), ("conversation.message", 6)]
    hub.dispatch(CONVERSATIONS, 9, {**base, "type": "conversation.queued", "agent_id": None, "reason": "rejected"})
    hub.dispatch(CONVERSATIONS, 10, {**base, "type": "conversation.offered", "agent_id": "bob"})
    hub.dispatch(CONVERSATIONS, 11, {**base, "type": "conversation.assigned", "agent_id": "bob"})
    assert [(e["type"], e["seq"]) for e in drain(bob)] == [
        ("conversation.offered", 10), ("conversation.message", 6), ("conversation.assigned", 11)]
    assert [e["type"] for e in drain(ana)] == []
    # Once assigned, the backlog is over: a late reassignment does not resend it.
    hub.dispatch(CONVERSATIONS, 12, {**base, "type": "conversation.assigned", "agent_id": "ana"})
    assert [e["seq"] for e in drain(ana)] == [12]
    # The late message did not move bob's cursor: his later events still arrive.
    hub.dispatch(CONVERSATIONS, 13, {**base, "type": "conversation.message", "agent_id": "bob", "text": "y"})
    assert [e["seq"] for e in drain(bob)] == [13]
