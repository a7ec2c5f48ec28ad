"""Faults of the router's stores: Redis losing writes (all, or the last ones), JetStream refusing events.

Each test runs its own NATS or Redis (``libs.devstack``) where it must break one, so the session's servers stay
untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from nats.js.api import DiscardPolicy

from libs.contracts import ConversationMessage
from libs.devstack import DevStack, StackInfo
from libs.messaging import nats_session, publish
from libs.storage import connect_redis
from services.router.app import create_app
from services.router.keys import ROUTER, ROUTER_READY

from ..conftest import as_service


def store_of(router: Any) -> Any:
    """The live state of a router under test (to break it)."""
    return router.app[ROUTER].store


async def lose_state(store: Any, unique: str) -> None:
    """Redis loses every key of this test's router (its prefix), as a restart without files does."""
    await store.r.delete(*[k async for k in store.r.scan_iter(match=f"sb:r{unique}:*", count=1000)])


@asynccontextmanager
async def one_agent_router(js: Any, kit: Any, router_settings: Any, unique: str, **campaign: Any
                           ) -> AsyncIterator[tuple[TestClient, str, str]]:
    """A router of its own key prefix, a 24/7 campaign on channel ``ch-<unique>`` and its agent available."""
    agent, ch = f"agent-{unique}", f"ch-{unique}"
    await kit.put_campaign(js, kit.campaign(unique, **campaign))
    settings = router_settings.model_copy(update={"key_prefix": f"sb:r{unique}:"})
    async with kit.running_router(settings) as router:
        await kit.status(router, agent, "available")
        yield router, agent, ch


@asynccontextmanager
async def own_servers(stack: StackInfo, folder: Path, *, nats: bool = False, redis: bool = False
                      ) -> AsyncIterator[tuple[DevStack, StackInfo]]:
    """A private NATS and/or Redis (the session's serve the rest), started and stopped with the test."""
    env = {"SB_DATABASE_URL": stack.database_url}
    if not nats:
        env["SB_NATS_URL"] = stack.nats_url
    if not redis:
        env["SB_REDIS_URL"] = stack.redis_url
    folder.mkdir(parents=True, exist_ok=True)
    own = DevStack(folder, env=env)
    info = await asyncio.to_thread(own.start)
    try:
        yield own, info
    finally:
        await asyncio.to_thread(own.stop)


async def _stored(js: Any, subject: str) -> list[dict[str, Any]]:
    """Every message of a CONVERSATIONS subject, read back from the stream."""
    info = await js.stream_info("CONVERSATIONS", subjects_filter=subject)
    n = sum((info.state.subjects or {}).values())
    if not n:
        return []
    sub = await js.subscribe(subject, stream="CONVERSATIONS", ordered_consumer=True)
    try:
        return [json.loads((await sub.next_msg(timeout=5)).data) for _ in range(n)]
    finally:
        await sub.unsubscribe()


async def test_redis_losing_a_decision_whose_events_jetstream_refused_loses_no_message(
        stack, tmp_path, router_settings, unique, kit):
    """The router acknowledges an inbound message only once JetStream holds its decision's events: if it did
    so before, Redis losing the decision (and its outbox) loses a message the provider was told we have."""
    async with own_servers(stack, tmp_path / "own", nats=True) as (_, info), \
            nats_session(info.nats_url, "test") as (_, js):
        settings = router_settings.model_copy(update={"nats_url": info.nats_url, "key_prefix": f"sb:r{unique}:",
                                                      "outbox_grace_s": 3600.0})
        ch, contact = f"ch-{unique}", "+5491100000123"
        await kit.put_campaign(js, kit.campaign(unique))
        async with kit.running_router(settings) as router:
            await kit.status(router, f"agent-{unique}", "available")
            # JetStream refuses every new CONVERSATIONS message for a while; INBOUND still takes them.
            await js.publish("sb.conv.status.x", b"{}")
            cfg = (await js.stream_info("CONVERSATIONS")).config
            full = replace(cfg, max_msgs=(await js.stream_info("CONVERSATIONS")).state.messages,
                           discard=DiscardPolicy.NEW)
            await js.update_stream(full)
            msg = kit.inbound(ch, contact, 1, "no me pierdas")
            await kit.send(js, msg)
            store = store_of(router)
            for _ in range(100):
                if await store.r.exists(store.key("open", ch, contact)):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the router never decided the message")
            await asyncio.sleep(1.0)  # time enough for an acknowledgement that comes too early
            # Redis loses everything of this router: the decision and the outbox holding its events.
            await lose_state(store, unique)
            await js.update_stream(replace(cfg, max_msgs=-1, discard=DiscardPolicy.OLD))
            for _ in range(300):
                stored = await _stored(js, "sb.conv.message.>")
                if any(m.get("provider_message_id") == msg.provider_message_id for m in stored):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the acknowledged message was lost with Redis")
            opened = [m for m in await _stored(js, "sb.conv.opened.>") if m["channel_id"] == ch]
            assert len(opened) == 1


async def test_redis_back_from_older_files_is_rebuilt_not_trusted(stack, tmp_path, router_settings, nats_js, events,
                                                                  unique, kit):
    """Redis restarting from its files (or failing over to a replica) keeps the epoch but loses the last writes:
    the router must see another server holds the state, and rebuild it instead of deciding on a stale one."""
    from libs.devstack import faults

    _, js = nats_js
    agent, ch = f"agent-{unique}", f"ch-{unique}"
    await kit.put_campaign(js, kit.campaign(unique))  # capacity 2
    async with own_servers(stack, tmp_path / "own", redis=True) as (own, info):
        settings = router_settings.model_copy(update={"redis_url": info.redis_url})
        async with kit.running_router(settings) as router:
            await kit.status(router, agent, "available")
            await kit.send(js, kit.inbound(ch, "+2001", 1, "a1"))
            await events.wait_for("conversation.assigned", channel_id=ch)
            store = store_of(router)
            await store.r.save()  # Redis writes its files now: what follows will be lost
            await kit.send(js, kit.inbound(ch, "+2002", 1, "b1"))
            [_, second] = await events.wait_for("conversation.assigned", 2, channel_id=ch)
            await asyncio.to_thread(faults.restart_redis, own, keep_data=True)
            assert await store.r.exists(store.key("conv", second.conversation_id)) == 0  # the loss is real
            await kit.send(js, kit.inbound(ch, "+2002", 2, "b2"))
            await kit.send(js, kit.inbound(ch, "+2003", 1, "c1"))
            b = await events.wait_for("conversation.message", 2, contact_address="+2002", timeout=30)
            assert {m.conversation_id for m in b} == {second.conversation_id}  # not a second conversation
            await events.wait_for("conversation.queued", contact_address="+2003", timeout=30)
            await asyncio.sleep(0.5)
            assert events.of("conversation.assigned", contact_address="+2003") == []  # the agent is full
            assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 2
            assert len(events.of("conversation.opened", contact_address="+2002")) == 1


async def test_the_rebuild_reaches_conversations_older_than_the_stream(stack, tmp_path, router_settings, nats_js,
                                                                       events, unique, kit):
    """A conversation opened before the CONVERSATIONS stream's retention has only its newest events in the stream;
    the rebuild takes the rest from the CRM's record."""
    from aiohttp.test_utils import TestClient, TestServer

    from libs.core.service import LIFECYCLE
    from services.crm.app import create_app as create_crm
    from services.crm.settings import CrmSettings

    _, js = nats_js
    agent, ch, contact = f"agent-{unique}", f"ch-{unique}", "+3001"
    await kit.put_campaign(js, kit.campaign(unique))
    crm_app = create_crm(CrmSettings(nats_url=stack.nats_url, redis_url=stack.redis_url,
                                     database_url=stack.database_url, env="test", run_jobs=False,
                                     blob_dir=str(tmp_path / "crm-blobs")))
    async with TestClient(TestServer(crm_app), **as_service("crm")) as crm:
        crm_app[LIFECYCLE].ready = True
        settings = router_settings.model_copy(update={"key_prefix": f"sb:r{unique}:",
                                                      "crm_url": str(crm.make_url("")).rstrip("/")})
        async with kit.running_router(settings) as router:
            await kit.status(router, agent, "available")
            await kit.send(js, kit.inbound(ch, contact, 1, "primero"))
            [assigned] = await events.wait_for("conversation.assigned", channel_id=ch)
            cid = assigned.conversation_id
            await kit.send(js, kit.inbound(ch, contact, 2, "segundo"))
            await events.wait_for("conversation.message", 2, conversation_id=cid)
            for _ in range(600):  # the CRM has recorded both messages
                resp = await crm.get(f"/conversations/{cid}")
                if resp.status == 200 and len((await resp.json())["messages"]) == 2:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the CRM never recorded the conversation")
            # The stream's retention passes over the conversation's first events: only its second message stays.
            kept = await js.get_last_msg("CONVERSATIONS", f"sb.conv.message.{cid}")
            for event in ("opened", "queued", "assigned"):
                await js.purge_stream("CONVERSATIONS", subject=f"sb.conv.{event}.{cid}")
            await js.purge_stream("CONVERSATIONS", subject=f"sb.conv.message.{cid}", seq=kept.seq)
            store = store_of(router)
            await lose_state(store, unique)

            await kit.send(js, kit.inbound(ch, contact, 3, "tercero"))
            third = await events.wait_for("conversation.message", 3, contact_address=contact, timeout=30)
            assert {m.conversation_id for m in third} == {cid}
            assert len(events.of("conversation.opened", contact_address=contact)) == 1
            conv = await kit.get_json(router, f"/conversations/{cid}")
            assert conv["state"] == "assigned" and conv["agent_id"] == agent
            assert [m["text"] for m in conv["messages"]] == ["primero", "segundo", "tercero"]
            assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 1


async def test_after_a_rebuild_a_redelivered_message_of_a_closed_conversation_is_still_a_duplicate(
        nats_js, router_settings, events, unique, kit):
    """A message delivered again after Redis lost its state (its first delivery decided, then the replica died
    before its ack) must not open a new conversation, even when its conversation has been closed since."""
    _, js = nats_js
    async with one_agent_router(js, kit, router_settings, unique) as (router, agent, ch):
        msg = kit.inbound(ch, "+4001", 1, "una vez")
        await kit.send(js, msg)
        [assigned] = await events.wait_for("conversation.assigned", channel_id=ch)
        await router.post(f"/conversations/{assigned.conversation_id}/messages",
                          json={"agent_id": agent, "text": "hola", "client_message_id": "r1"})
        await kit.close_ok(router, assigned.conversation_id, agent)
        store = store_of(router)
        await lose_state(store, unique)
        # The same message again (as INBOUND redelivers it: the stream's own dedup does not apply).
        await js.publish(msg.subject(), msg.model_dump_json().encode(), headers={"Nats-Msg-Id": f"again-{unique}"})
        await kit.send(js, kit.inbound(ch, "+4002", 1, "otro"))  # something new after it, to know it was handled
        await events.wait_for("conversation.opened", contact_address="+4002", timeout=30)
        await asyncio.sleep(0.5)
        assert len(events.of("conversation.opened", contact_address="+4001")) == 1
        assert len(events.of("conversation.message", provider_message_id=msg.provider_message_id)) == 1
        # And a reply retried with its client id after the loss is still sent once.
        resp = await router.post(f"/conversations/{assigned.conversation_id}/messages",
                                 json={"agent_id": agent, "text": "hola", "client_message_id": "r1"})
        assert resp.status == 201
        assert len(events.of("outbound.message", conversation_id=assigned.conversation_id)) == 1


async def test_an_offer_the_rebuild_turns_back_into_queued_says_so(nats_js, router_settings, events, unique, kit):
    """An offer pending when Redis lost the state is offered anew after the rebuild; the record must show it was
    taken back first (``conversation.queued``), or it reads as offered to two agents at once."""
    _, js = nats_js
    async with one_agent_router(js, kit, router_settings, unique, routing={"offer_timeout_s": 120}) as (
            router, agent, ch):
        await kit.send(js, kit.inbound(ch, "+5001", 1, "hola"))
        [offered] = await events.wait_for("conversation.offered", channel_id=ch)
        store = store_of(router)
        await lose_state(store, unique)
        await kit.send(js, kit.inbound(ch, "+5002", 1, "hola"))  # the next message finds the state gone
        [requeued] = await events.wait_for("conversation.queued", conversation_id=offered.conversation_id,
                                           reason="offer_lost", timeout=30)
        assert requeued.seq > offered.seq and requeued.agent_id is None
        again = await events.wait_for("conversation.offered", 2, conversation_id=offered.conversation_id, timeout=30)
        assert again[1].seq > requeued.seq
        assert (await kit.get_json(router, f"/agents/{agent}"))["load"] >= 1


async def test_a_replica_that_died_while_rebuilding_is_replaced(nats_js, router_settings, events, unique, kit):
    """The rebuild lock of a replica that died mid-rebuild (SIGKILL, a rolling restart) lapses within seconds:
    another replica rebuilds, instead of every replica waiting for an epoch nobody will set."""
    _, js = nats_js
    async with one_agent_router(js, kit, router_settings, unique) as (router, agent, ch):
        await kit.send(js, kit.inbound(ch, "+6001", 1, "hola"))
        await events.wait_for("conversation.assigned", channel_id=ch)
        store = store_of(router)
        await lose_state(store, unique)
        # A replica took the lock and died: its last renewal runs out in 3 s.
        await store.r.set(store.key("lock", "rebuild"), "a-dead-replica", px=3000)
        await kit.send(js, kit.inbound(ch, "+6002", 1, "hola"))
        await events.wait_for("conversation.assigned", 2, channel_id=ch, timeout=25)
        assert (await kit.get_json(router, f"/agents/{agent}"))["load"] == 2


async def test_a_rebuild_whose_read_pauses_still_reads_the_whole_stream(stack, tmp_path, router_settings, unique, kit):
    """On a loaded machine the rebuild's read of CONVERSATIONS can go seconds without a message. It took the first
    2 s pause for the end of the stream and rebuilt from a prefix of it (bench.chaos, 100k run: one rebuild read
    46,545 events two minutes after another read 171,538): every conversation opened later was forgotten, so the
    contact's next message opened a second one, closed ones came back queued, agent loads were too low (over
    capacity) and reused ``seq`` numbers made JetStream drop new events as duplicates (lost messages)."""
    from libs.contracts import ConversationOpened
    from libs.messaging import publish_many
    from services.router.keys import REBUILDER

    async with own_servers(stack, tmp_path / "own", nats=True) as (_, info), \
            nats_session(info.nats_url, "test") as (_, js):
        settings = router_settings.model_copy(update={"nats_url": info.nats_url, "key_prefix": f"sb:r{unique}:"})
        ch, n = f"ch-{unique}", 4000  # 16 MB: NATS paces its delivery, so a pause falls mid-read
        await kit.put_campaign(js, kit.campaign(unique))
        async with kit.running_router(settings) as router:
            for first in range(0, n, 1000):
                await publish_many(js, [ConversationOpened(
                    id=f"{unique}-{i}-1", conversation_id=f"{unique}-{i}", campaign_id=f"camp-{unique}",
                    channel_id=ch, channel_type="whatsapp", contact_address=f"+57{i:08d}", contact_name="x" * 4000,
                    seq=1)
                    for i in range(first, first + 1000)], timeout=60)
            store = store_of(router)
            await lose_state(store, unique)
            rebuilder = router.app[REBUILDER]
            rebuilding = asyncio.create_task(rebuilder.rebuild())
            while rebuilder.read_progress == 0:  # the read has begun: NATS stops answering for 4 s
                await asyncio.sleep(0.005)
            os.kill(info.pids["nats"], signal.SIGSTOP)
            try:
                await asyncio.sleep(4)
            finally:
                os.kill(info.pids["nats"], signal.SIGCONT)
            counts = await asyncio.wait_for(rebuilding, 120)
            assert counts["conversations"] == n
            assert await store.r.scard(store.key("open_all")) == n


async def test_a_router_whose_first_rebuild_fails_tries_again_and_becomes_ready(stack, tmp_path, router_settings,
                                                                                unique, kit):
    """A router started while Redis is away (or loading its files, or while its rebuild lock lapses under load)
    failed its start-up rebuild once and for all: it never consumed nor became ready (bench.chaos: "router did
    not become ready"). It tries again until the state is there."""
    from libs.devstack.faults import kill_server, restart_redis

    async with own_servers(stack, tmp_path / "own", redis=True) as (own, info), \
            nats_session(stack.nats_url, "test") as (_, js):
        settings = router_settings.model_copy(update={"redis_url": info.redis_url, "key_prefix": f"sb:r{unique}:"})
        await kit.put_campaign(js, kit.campaign(unique))
        # Another replica holds the rebuild lock: this one waits for its epoch, and meets Redis going away.
        holder = connect_redis(info.redis_url)
        await holder.set(f"sb:r{unique}:lock:rebuild", "another-replica", px=600_000)
        await holder.aclose()
        app = create_app(settings)
        async with TestClient(TestServer(app), **as_service("router")) as client:
            await asyncio.sleep(1)
            await asyncio.to_thread(kill_server, own, "redis")
            await asyncio.sleep(2)  # its start-up rebuild has met Redis away by now
            assert not app[ROUTER_READY].is_set()
            await asyncio.to_thread(restart_redis, own, keep_data=False)
            await asyncio.wait_for(app[ROUTER_READY].wait(), 30)
            agent, ch = f"agent-{unique}", f"ch-{unique}"
            await kit.status(client, agent, "available")
            await kit.send(js, kit.inbound(ch, "+7001", 1, "hola"))
            for _ in range(200):
                if (await kit.get_json(client, f"/agents/{agent}"))["load"] == 1:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the router never assigned the conversation")


async def test_a_router_becomes_ready_when_agents_holds_no_status_event(stack, tmp_path, router_settings, unique,
                                                                          kit):
    """AGENTS holding messages, none of them a status event (agent commands, other events): the ordered consumer of
    ``sb.agent.event.status.>`` got nothing, yet the server reported its delivered stream sequence past them, so
    the read never counted as over; it stalled, the rebuild ran again and again, and the router never became ready
    (in one test session, every router started after the CRM's tests)."""
    async with own_servers(stack, tmp_path / "own", nats=True) as (_, info), \
            nats_session(info.nats_url, "test") as (_, js):
        for i in range(3):
            await js.publish(f"sb.agent.event.other.{unique}", json.dumps({"n": i}).encode(), stream="AGENTS")
        settings = router_settings.model_copy(update={"nats_url": info.nats_url, "key_prefix": f"sb:r{unique}:"})
        await kit.put_campaign(js, kit.campaign(unique))
        async with kit.running_router(settings) as router:  # ready within 15 s, or it raises
            assert (await router.get("/readyz")).status == 200


async def test_a_decision_that_lands_after_the_rebuild_read_keeps_its_own_id(nats_js, router_settings, events,
                                                                             unique, kit):
    """A decision taken just before Redis lost the state may reach the stream after the rebuild read it (a
    starved replica, NATS reconnecting). The next event of that conversation must not reuse its seq: the event id
    is ``<conversation>-<seq>``, and the CRM drops a second event with a known id as a redelivery. One chaos run
    ended with the CRM missing a closure that way (the router said closed, the CRM assigned)."""
    _, js = nats_js
    async with one_agent_router(js, kit, router_settings, unique) as (router, agent, ch):
        await kit.send(js, kit.inbound(ch, "+7001", 1, "hola"))
        [assigned] = await events.wait_for("conversation.assigned", channel_id=ch)
        cid = assigned.conversation_id
        store = store_of(router)
        await lose_state(store, unique)
        await kit.send(js, kit.inbound(ch, "+7002", 1, "hola"))  # finds the state gone: the rebuild runs
        await events.wait_for("conversation.opened", contact_address="+7002", timeout=30)
        # The straggler: the decision after ``assigned`` (a message), published only now.
        late = assigned.seq + 1
        straggler = ConversationMessage(
            id=f"{cid}-{late}", conversation_id=cid, campaign_id=assigned.campaign_id, channel_id=ch,
            channel_type=assigned.channel_type, contact_address=assigned.contact_address, seq=late,
            message_id=f"m-{unique}", direction="in", text="tarde", provider_message_id=f"late-{unique}")
        await publish(js, straggler)
        await kit.close_ok(router, cid, agent)
        [closed] = await events.wait_for("conversation.closed", conversation_id=cid, timeout=15)
        assert closed.seq > late and closed.id != straggler.id, (closed.id, closed.seq)
