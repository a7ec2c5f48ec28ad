"""Consumer loops that outlive their failures: a NATS restart, a killed task, an exhausted max_deliver, a replay."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from libs.contracts import InboundMessage
from libs.core import metrics
from libs.core.service import LIFECYCLE, create_base_app
from libs.core.settings import ServiceSettings
from libs.devstack import free_port
from libs.devstack.stack import nats_binary
from libs.messaging import nats_ctx, nats_session, publish, run_consumer, start_consumer
from libs.messaging.deadletters import get_dead_letter, list_dead_letters, replay


def _inbound(tag: str, n: int = 1, text: str = "hola") -> InboundMessage:
    return InboundMessage(channel_id=f"ch-{tag}", channel_type="whatsapp", contact_address="+34600000001",
                          provider_message_id=f"wamid.{tag}.{n}", text=text)


def _value(metric, **labels) -> float:
    value = metrics.REGISTRY.get_sample_value(metric, labels)
    return value or 0.0


class NatsServer:
    """A nats-server of our own, so a test can stop it and bring it back on the same port and store."""

    def __init__(self, folder: Path) -> None:
        self.port, self.store, self.log = free_port(), folder / "js", folder / "nats.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store),
            "--server_name", "sb-robust", stdout=out, stderr=subprocess.STDOUT)
        out.close()
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await asyncio.sleep(0.3)  # JetStream recovers its store just after the port opens
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(self.log.read_text())

    async def stop(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        await asyncio.wait_for(self.proc.wait(), 10)


@pytest.fixture
async def nats_server(tmp_path):
    server = NatsServer(tmp_path)
    await server.start()
    yield server
    if server.proc and server.proc.returncode is None:
        await server.stop(signal.SIGTERM)


async def _wait_for(predicate, timeout: float = 20.0, every: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(every)


async def test_the_loop_recovers_when_nats_is_killed_and_comes_back(nats_server, unique):
    seen: list[str] = []
    stop = asyncio.Event()

    async def handler(event):
        seen.append(event.provider_message_id)

    async with nats_session(nats_server.url, "robust") as (nc, js):
        durable = f"t-restart-{unique}"
        task = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, handler=handler, stop=stop,
                                                filter_subject=f"sb.inbound.whatsapp.ch-{unique}"))
        try:
            await publish(js, _inbound(unique, 1))
            await _wait_for(lambda: len(seen) == 1)

            await nats_server.stop(signal.SIGKILL)
            await asyncio.sleep(3)  # fetches fail (or time out) meanwhile; the loop must not end
            assert not task.done()
            await nats_server.start()
            await _wait_for(lambda: nc.is_connected, timeout=30)

            await publish(js, _inbound(unique, 2))
            await _wait_for(lambda: len(seen) == 2, timeout=40)
            assert seen == [f"wamid.{unique}.1", f"wamid.{unique}.2"]
            assert not task.done()
            info = await js.consumer_info("INBOUND", durable)
            assert info.num_pending == 0
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_a_consumer_set_up_while_nats_is_down_starts_when_it_returns(nats_server, unique):
    seen: list[str] = []
    stop = asyncio.Event()

    async def handler(event):
        seen.append(event.provider_message_id)

    async with nats_session(nats_server.url, "robust") as (nc, js):
        await nats_server.stop(signal.SIGKILL)
        durable = f"t-late-{unique}"
        task = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, handler=handler, stop=stop,
                                                filter_subject=f"sb.inbound.whatsapp.ch-{unique}"))
        try:
            await asyncio.sleep(2)  # ensure_consumer fails and is retried; the loop lives on
            assert not task.done()
            await nats_server.start()
            await _wait_for(lambda: nc.is_connected, timeout=30)
            await publish(js, _inbound(unique, 1))
            await _wait_for(lambda: seen == [f"wamid.{unique}.1"], timeout=40)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_a_killed_consumer_task_turns_readyz_503_and_names_it(stack, unique):
    settings = ServiceSettings(service_name=f"robust-{unique}", nats_url=stack.nats_url)
    app = create_base_app(settings)
    app.cleanup_ctx.append(nats_ctx(settings.nats_url, settings.service_name))
    durable = f"t-kill-{unique}"

    async def start(app: web.Application):
        async def handler(event):
            return None

        start_consumer(app, stream="INBOUND", durable=durable, handler=handler,
                       filter_subject=f"sb.inbound.whatsapp.ch-{unique}")
        app[LIFECYCLE].ready = True
        yield

    app.cleanup_ctx.append(start)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/readyz")).status == 200
        task = next(t for t in asyncio.all_tasks() if t.get_name() == f"consumer:{durable}")
        task.cancel()
        await asyncio.wait([task], timeout=10)
        r = await client.get("/readyz")
        assert r.status == 503
        body = await r.json()
        assert any(f"consumer:{durable}" in reason for reason in body["reasons"]), body
        scrape = await (await client.get("/metrics")).text()
        assert f'sb_background_tasks_failed{{service="robust-{unique}"}} 1.0' in scrape
        assert f'sb_ready{{service="robust-{unique}"}} 0.0' in scrape


async def test_exhausted_max_deliver_is_dead_lettered_and_a_replay_delivers_it_once(nats_js, unique):
    """Loops whose handler hangs past ack_wait (two get stuck, a third keeps pulling): JetStream gives up
    after max_deliver, its advisory is captured, the message lands in the dead-letter list; once the
    handler is fixed, one replay delivers it once, and a second replay of the same dead letter is a
    reported duplicate."""
    _, js = nats_js
    durable = f"t-maxdel-{unique}"
    stuck = asyncio.Event()  # set = the handler is fixed
    delivered: list[str] = []
    stop = asyncio.Event()

    async def handler(event):
        delivered.append(event.provider_message_id)
        await stuck.wait()

    loops = [asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, handler=handler, stop=stop,
                                              filter_subject=f"sb.inbound.whatsapp.ch-{unique}", max_deliver=2,
                                              ack_wait_s=1.0)) for _ in range(3)]
    try:
        msg = _inbound(unique, 1, text="hangs")
        await publish(js, msg)

        async def letters():
            return await list_dead_letters(js, consumer=durable)

        found: list = []
        for _ in range(100):
            found = await letters()
            if found:
                break
            await asyncio.sleep(0.1)
        assert len(found) == 1, "the exhausted message never reached the dead-letter stream"
        letter = found[0]
        assert letter.stream == "INBOUND" and letter.subject == msg.subject()
        assert "max_deliver exhausted" in letter.reason and letter.deliveries == 2
        assert len(delivered) == 2
        shown = await get_dead_letter(js, letter.sequence)
        assert shown.payload["provider_message_id"] == msg.provider_message_id
        # Filters: by reason and stream match; another consumer's or reason's do not.
        assert [x.sequence for x in await list_dead_letters(js, stream="INBOUND", reason="MAX_DELIVER")] [:1] == \
            [letter.sequence]
        assert await list_dead_letters(js, consumer=durable, reason="no such reason") == []

        stuck.set()  # the fix is deployed
        await asyncio.sleep(1.5)
        before = len(delivered)
        first = await replay(js, letter.sequence)
        assert not first.duplicate and first.consumer == durable
        await _wait_for(lambda: len(delivered) == before + 1)
        again = await replay(js, letter.sequence)
        assert again.duplicate
        await asyncio.sleep(2)
        assert len(delivered) == before + 1, "a replay must be delivered exactly once"
    finally:
        stuck.set()
        stop.set()
        await asyncio.gather(*loops)


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batch-handler"])
async def test_a_hold_keeps_messages_in_the_stream_while_the_service_cannot_work(nats_js, unique, batched):
    """The router's case: its live state is being rebuilt, every decision fails with Transient. Without a
    hold, each failure spends one of max_deliver deliveries and a long outage dead-letters acknowledged
    webhooks (bench.chaos found it). With the hold, the loops stop fetching after the first failure until the
    service is back, and the failed delivery waits in hand (in progress) to run again then: it is handled
    once, on its first delivery, and nothing is dead-lettered."""
    from libs.core.errors import Transient

    _, js = nats_js
    durable = f"t-hold-{unique}"
    live = asyncio.Event()
    outage: asyncio.Future[None] | None = None
    attempts: list[str] = []
    handled: list[str] = []
    stop = asyncio.Event()

    def hold():
        return None if outage is None or outage.done() else outage

    async def handler(event):
        nonlocal outage
        attempts.append(event.provider_message_id)
        if not live.is_set():
            if outage is None or outage.done():
                outage = asyncio.ensure_future(live.wait())  # the service starts repairing itself
            raise Transient("live state is being rebuilt")
        handled.append(event.provider_message_id)

    async def batch_handler(events):  # the router's way: a fetch at once, an outcome per message
        outcomes: list[BaseException | None] = []
        for event in events:
            try:
                await handler(event)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    loops = [asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, handler=handler, stop=stop,
                                              filter_subject=f"sb.inbound.whatsapp.ch-{unique}", max_deliver=2,
                                              ack_wait_s=1.0, hold=hold,
                                              batch_handler=batch_handler if batched else None))
             for _ in range(2)]
    try:
        msg = _inbound(unique, 1)
        await publish(js, msg)
        await _wait_for(lambda: len(attempts) >= 1)
        # The failed delivery stays in hand (in progress), the loops hold: nothing is redelivered, far past
        # max_deliver=2 with a 0.5 s backoff and a 1 s ack wait.
        await asyncio.sleep(4.0)
        assert attempts == [msg.provider_message_id], "a held message must not be redelivered"
        assert await list_dead_letters(js, consumer=durable) == []
        live.set()
        await _wait_for(lambda: handled == [msg.provider_message_id])
        await asyncio.sleep(1.5)
        assert handled == [msg.provider_message_id] and len(attempts) == 2
        assert await list_dead_letters(js, consumer=durable) == []
    finally:
        live.set()
        stop.set()
        await asyncio.gather(*loops)


async def test_without_a_hold_the_same_outage_dead_letters_the_message(nats_js, unique):
    """The other side of the hold: the same outage, no hold, and max_deliver=2 is spent on naks."""
    from libs.core.errors import Transient

    _, js = nats_js
    durable = f"t-nohold-{unique}"
    stop = asyncio.Event()
    attempts: list[str] = []

    async def handler(event):
        attempts.append(event.provider_message_id)
        raise Transient("live state is being rebuilt")

    loop = asyncio.create_task(run_consumer(js, stream="INBOUND", durable=durable, handler=handler, stop=stop,
                                            filter_subject=f"sb.inbound.whatsapp.ch-{unique}", max_deliver=2,
                                            ack_wait_s=1.0))
    try:
        await publish(js, _inbound(unique, 1))
        found: list = []
        for _ in range(100):
            if found := await list_dead_letters(js, consumer=durable):
                break
            await asyncio.sleep(0.1)
        assert len(found) == 1 and "unavailable" in found[0].reason and len(attempts) == 2
    finally:
        stop.set()
        await loop


async def test_a_replay_is_handled_only_by_the_consumer_it_names(nats_js, unique):
    _, js = nats_js
    stop = asyncio.Event()
    seen: dict[str, list[str]] = {"a": [], "b": []}
    failing = f"t-replay-a-{unique}"
    other = f"t-replay-b-{unique}"
    fixed = asyncio.Event()

    def handler(name):
        async def handle(event):
            if name == "a" and not fixed.is_set():
                from libs.core.errors import Invalid

                raise Invalid("refused", field="text")
            seen[name].append(event.provider_message_id)

        return handle

    subject = f"sb.inbound.whatsapp.ch-{unique}"
    tasks = [asyncio.create_task(run_consumer(js, stream="INBOUND", durable=d, handler=handler(n), stop=stop,
                                              filter_subject=subject)) for n, d in (("a", failing), ("b", other))]
    try:
        await publish(js, _inbound(unique, 1))
        await _wait_for(lambda: seen["b"] == [f"wamid.{unique}.1"])
        letters: list = []
        for _ in range(100):
            letters = await list_dead_letters(js, consumer=failing)
            if letters:
                break
            await asyncio.sleep(0.1)
        assert letters and "refused" in letters[0].reason
        fixed.set()
        await replay(js, letters[0].sequence)
        await _wait_for(lambda: seen["a"] == [f"wamid.{unique}.1"])
        await asyncio.sleep(1)
        assert seen["b"] == [f"wamid.{unique}.1"], "the other consumer must not see the replay"
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_kv_watch_recovers_when_nats_is_killed_and_comes_back(nats_server, unique):
    from libs.messaging import ensure_kv, watch_kv

    seen: dict[str, object] = {}
    stop, ready = asyncio.Event(), asyncio.Event()
    async with nats_session(nats_server.url, "robust-kv") as (nc, js):
        bucket = "campaigns"
        await ensure_kv(js, bucket)
        kv = await js.key_value(bucket)
        await kv.put(f"before-{unique}", b'{"n": 1}')
        task = asyncio.create_task(watch_kv(js, bucket, lambda k, v: seen.__setitem__(k, v), stop=stop, ready=ready,
                                            check_every_s=1.0))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            assert seen[f"before-{unique}"] == {"n": 1}
            await nats_server.stop(signal.SIGKILL)
            await asyncio.sleep(2)
            assert not task.done()
            await nats_server.start()
            await _wait_for(lambda: nc.is_connected, timeout=30)
            await kv.put(f"after-{unique}", b'{"n": 2}')
            await _wait_for(lambda: seen.get(f"after-{unique}") == {"n": 2}, timeout=40)
            assert not task.done()
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
