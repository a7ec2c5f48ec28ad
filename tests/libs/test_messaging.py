"""libs.messaging against a real JetStream: dedup, ack/nak/term, dead letters, KV watch."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NoStreamResponseError

from libs.contracts import InboundMessage
from libs.core.errors import Invalid, Transient
from libs.messaging import DLQ_STREAM, ensure_streams, publish, publish_many, run_consumer, watch_kv


def _inbound(unique: str, n: int = 1, text: str = "hola") -> InboundMessage:
    return InboundMessage(channel_id=f"ch-{unique}", channel_type="whatsapp", contact_address="+34600000001",
                          provider_message_id=f"wamid.{unique}.{n}", text=text)


async def _count(js, stream: str, subject: str) -> int:
    info = await js.stream_info(stream, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_streams_setup_is_idempotent(nats_js):
    _, js = nats_js
    await ensure_streams(js)
    await asyncio.gather(ensure_streams(js), ensure_streams(js))
    names = {s.config.name for s in await js.streams_info()}
    assert {"INBOUND", "OUTBOUND", "CONVERSATIONS", "AGENTS", "TIMERS", DLQ_STREAM} <= names


async def test_publish_same_message_id_is_stored_once(nats_js, unique):
    _, js = nats_js
    msg = _inbound(unique)
    first = await publish(js, msg)
    again = await publish(js, msg.model_copy(update={"text": "retry"}))
    assert again.duplicate and not first.duplicate
    assert await _count(js, "INBOUND", msg.subject()) == 1


class _Stray(InboundMessage):
    """A contract whose subject no stream captures."""

    def subject(self) -> str:
        return f"sb.nostream.{self.channel_id}"


def _stray(channel: str, n: int = 1) -> _Stray:
    return _Stray(channel_id=channel, channel_type="whatsapp", contact_address="a", provider_message_id=f"p{n}")


async def test_publish_without_a_stream_is_transient(nats_js):
    _, js = nats_js
    with pytest.raises(Transient):
        await publish(js, _stray("x"), timeout=0.5)


async def test_publish_many_acks_every_message_in_order(nats_js, unique):
    _, js = nats_js
    msgs = [_inbound(unique, n, text=f"m{n}") for n in range(12)]
    acks = await publish_many(js, msgs)
    assert [a.stream for a in acks] == ["INBOUND"] * len(msgs) and not any(a.duplicate for a in acks)
    seqs = [a.seq for a in acks]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    stored = [json.loads((await js.get_msg("INBOUND", s)).data)["text"] for s in seqs]
    assert stored == [m.text for m in msgs]
    assert await _count(js, "INBOUND", msgs[0].subject()) == len(msgs)


async def test_publish_many_acks_repeated_ids_as_duplicates(nats_js, unique):
    _, js = nats_js
    msgs = [_inbound(unique, n) for n in range(3)]
    first = await publish_many(js, [*msgs, msgs[0]])
    again = await publish_many(js, msgs)
    assert [bool(a.duplicate) for a in first] == [False, False, False, True]
    assert all(a.duplicate for a in again)
    assert [a.seq for a in again] == [a.seq for a in first[:3]]
    assert await _count(js, "INBOUND", msgs[0].subject()) == len(msgs)


async def test_publish_many_without_a_stream_fails_at_once_as_transient(nats_js, unique):
    _, js = nats_js
    with pytest.raises(Transient) as err:
        await publish_many(js, [_stray(unique, n) for n in range(3)], timeout=60)
    assert isinstance(err.value.__cause__, NoStreamResponseError)  # the server said so; no timeout was awaited
    await asyncio.sleep(0)
    assert js.publish_async_pending() == 0


async def test_publish_many_unacknowledged_times_out_and_frees_its_slots(nats_js, unique):
    nc, js = nats_js
    silent = await nc.subscribe(_stray(f"silent-{unique}").subject())  # a responder that never answers
    try:
        with pytest.raises(Transient) as err:
            await publish_many(js, [_stray(f"silent-{unique}", n) for n in range(3)], timeout=0.3)
    finally:
        await silent.unsubscribe()
    assert isinstance(err.value.__cause__, TimeoutError)
    await asyncio.sleep(0)
    assert js.publish_async_pending() == 0


async def _consume_until(js, durable, subject, handler, done: asyncio.Event, timeout=20.0):
    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, filter_subject=subject,
                                            handler=handler, stop=stop, max_deliver=3))
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_consumer_acks_handled_messages_in_order(nats_js, unique):
    _, js = nats_js
    msgs = [_inbound(unique, n) for n in range(5)]
    for m in msgs:
        await publish(js, m)
    seen: list[str] = []
    done = asyncio.Event()

    async def handler(event):
        seen.append(event.provider_message_id)
        if len(seen) == len(msgs):
            done.set()

    await _consume_until(js, f"t-ack-{unique}", msgs[0].subject(), handler, done)
    assert seen == [m.provider_message_id for m in msgs]
    info = await js.consumer_info("INBOUND", f"t-ack-{unique}")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_transient_error_is_retried_then_succeeds(nats_js, unique):
    _, js = nats_js
    msg = _inbound(unique)
    await publish(js, msg)
    attempts = 0
    done = asyncio.Event()

    async def handler(event):
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise Transient("redis is restarting")
        done.set()

    await _consume_until(js, f"t-nak-{unique}", msg.subject(), handler, done)
    assert attempts == 2


async def _dead_letters(js, durable: str) -> list[tuple[dict[str, str], bytes]]:
    sub = await js.subscribe(f"sb.dlq.INBOUND.{durable}", stream=DLQ_STREAM,
                             config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    out = []
    try:
        while True:
            m = await sub.next_msg(timeout=1.0)
            out.append((dict(m.headers or {}), m.data))
    except Exception:
        pass
    await sub.unsubscribe()
    return out


async def test_permanent_error_goes_to_dead_letter_with_reason(nats_js, unique):
    _, js = nats_js
    msg = _inbound(unique)
    await publish(js, msg)
    done = asyncio.Event()

    async def handler(event):
        done.set()
        raise Invalid("no campaign serves channel", field="channel_id")

    durable = f"t-term-{unique}"
    await _consume_until(js, durable, msg.subject(), handler, done)
    await asyncio.sleep(0.2)
    letters = await _dead_letters(js, durable)
    assert len(letters) == 1
    headers, data = letters[0]
    assert "no campaign serves channel" in headers["Sb-Dlq-Reason"]
    assert json.loads(data)["provider_message_id"] == msg.provider_message_id


async def test_crashing_handler_is_dead_lettered_after_max_deliveries(nats_js, unique):
    _, js = nats_js
    msg = _inbound(unique)
    await publish(js, msg)
    calls = 0
    done = asyncio.Event()

    async def handler(event):
        nonlocal calls
        calls += 1
        if calls == 3:
            done.set()
        raise RuntimeError("bug")

    durable = f"t-crash-{unique}"
    await _consume_until(js, durable, msg.subject(), handler, done, timeout=30)
    await asyncio.sleep(0.3)
    letters = await _dead_letters(js, durable)
    assert calls == 3
    assert len(letters) == 1 and "exhausted 3 deliveries" in letters[0][0]["Sb-Dlq-Reason"]


async def test_undecodable_payload_is_dead_lettered(nats_js, unique):
    _, js = nats_js
    subject = f"sb.inbound.whatsapp.bad-{unique}"
    await js.publish(subject, b"{not json", headers={"Nats-Msg-Id": f"bad-{unique}"})
    done = asyncio.Event()

    async def handler(event):  # never reached
        raise AssertionError

    durable = f"t-undec-{unique}"
    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, filter_subject=subject,
                                            handler=handler, stop=stop))
    letters = []
    for _ in range(50):
        await asyncio.sleep(0.1)
        letters = await _dead_letters(js, durable)
        if letters:
            break
    stop.set()
    await task
    assert letters and letters[0][0]["Sb-Dlq-Reason"].startswith("undecodable")
    assert not done.is_set()


async def test_kv_watch_sees_initial_values_changes_and_deletes(nats_js, unique):
    _, js = nats_js
    kv = await js.key_value("campaigns")
    key = f"kvtest-{unique}"
    await kv.put(key, json.dumps({"v": 1}).encode())
    seen: list[tuple[str, object]] = []
    ready = asyncio.Event()
    stop = asyncio.Event()

    def on_change(k, value):
        if k == key:
            seen.append((k, value))

    task = asyncio.create_task(watch_kv(js, "campaigns", on_change, stop=stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    assert seen == [(key, {"v": 1})]
    await kv.put(key, json.dumps({"v": 2}).encode())
    await kv.delete(key)
    for _ in range(50):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await task
    assert seen == [(key, {"v": 1}), (key, {"v": 2}), (key, None)]


async def test_transient_error_waits_at_least_what_the_dependency_asked(nats_js, unique):
    _, js = nats_js
    msg = _inbound(unique)
    await publish(js, msg)
    seen: list[float] = []
    done = asyncio.Event()

    async def handler(event):
        seen.append(asyncio.get_running_loop().time())
        if len(seen) == 1:
            raise Transient("provider said 429", retry_after_s=1.5)
        done.set()

    await _consume_until(js, f"t-ra-{unique}", msg.subject(), handler, done)
    assert len(seen) == 2 and seen[1] - seen[0] >= 1.4


async def test_parallel_subjects_let_one_subject_pass_a_stuck_one_and_keep_each_in_order(nats_js, unique):
    _, js = nats_js

    class Lane(InboundMessage):
        def subject(self) -> str:  # two subjects of this test only
            return f"sb.inbound.t{unique}.{self.channel_id}"

    def lane(name: str, n: int) -> Lane:
        return Lane(channel_id=name, channel_type="whatsapp", contact_address="+34600000001",
                    provider_message_id=f"{name}{n}")

    for m in [lane("slow", 0), lane("fast", 0), lane("fast", 1), lane("fast", 2), lane("slow", 1)]:
        await publish(js, m)
    release = asyncio.Event()
    seen: list[str] = []
    done = asyncio.Event()

    async def handler(event):
        if event.provider_message_id == "slow0":
            await release.wait()  # a provider that hangs
        seen.append(event.provider_message_id)
        if seen == ["fast0", "fast1", "fast2"]:
            release.set()  # the other subject got through while this one was stuck
        if len(seen) == 5:
            done.set()

    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=f"t-par-{unique}",
                                            filter_subject=f"sb.inbound.t{unique}.>", handler=handler, stop=stop,
                                            parallel_subjects=True))
    try:
        await asyncio.wait_for(done.wait(), 20)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert seen == ["fast0", "fast1", "fast2", "slow0", "slow1"]


async def test_batch_handler_gets_a_fetch_together_and_each_message_settles_by_its_own_outcome(nats_js, unique):
    """One fetch goes to the batch handler in one call, in order; of its outcomes, None acks, a transient error
    retries that message alone and a permanent one dead-letters it alone."""
    _, js = nats_js
    msgs = [_inbound(unique, n) for n in range(4)]
    for m in msgs:
        await publish(js, m)
    calls: list[list[str]] = []
    done = asyncio.Event()

    async def batch_handler(events):
        ids = [e.provider_message_id for e in events]
        calls.append(ids)
        if len(calls) == 2:
            done.set()
        return [Transient("redis is restarting") if i.endswith(".1") and len(calls) == 1
                else Invalid("refused", field="text") if i.endswith(".2") else None for i in ids]

    async def handler(event):  # only with tracing on
        raise AssertionError

    durable = f"t-batch-{unique}"
    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, filter_subject=msgs[0].subject(),
                                            handler=handler, batch_handler=batch_handler, stop=stop, max_deliver=3))
    try:
        await asyncio.wait_for(done.wait(), 20)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert calls == [[m.provider_message_id for m in msgs], [msgs[1].provider_message_id]]
    letters = await _dead_letters(js, durable)
    assert [json.loads(data)["provider_message_id"] for _, data in letters] == [msgs[2].provider_message_id]
    info = await js.consumer_info("INBOUND", durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0
