"""The router's live state in Redis: every decision is one Lua script; reads are plain commands."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from libs.core import metrics
from libs.core.errors import AppError, Conflict, Forbidden, Invalid, NotFound, Transient
from libs.core.logging import get_logger
from services.router.adapters.ports import Fact, StateLost
from services.router.domain import now_ms

log = get_logger(__name__)

LUA = Path(__file__).parent / "lua"
SCRIPTS = ("ingest", "presence", "close", "send", "offer", "timer", "transfer", "sync", "priority", "take", "start")

_ERRORS: dict[str, type[AppError]] = {
    "not_found": NotFound,
    "conflict": Conflict,
    "forbidden": Forbidden,
    "invalid": Invalid,
    "state_lost": Transient,
}


# Compare-and-delete: the epoch goes only if it is still the one found stale (a rebuild may have just set one).
_DROP_EPOCH = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# A lock is renewed, released, and the epoch set under it, only by the holder of its token.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_SET_IF_LOCKED = ("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) return 1 end "
                  "return 0")


def epoch_guard(prefix: str) -> Callable[[Any], Awaitable[None]]:
    """A ``redis_connect_func``: on every new connection, before any command, check the epoch was set by this
    Redis server (its ``run_id``).

    Another server means Redis restarted from its files (AOF, RDB: the last writes may be lost) or failed
    over to a replica (which may lag): the live state is a prefix of what it was. Dropping the epoch makes
    every decision refuse (``state_lost``) until one replica has rebuilt it from the durable record.
    """
    key = prefix + "epoch"

    async def on_connect(conn: Any) -> None:
        await conn.on_connect()
        await conn.send_command("INFO", "server")
        info = str(await conn.read_response())
        server = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("run_id:")), "")
        await conn.send_command("GET", key)
        epoch = await conn.read_response()
        if epoch is None or not server:
            return
        holder = str(epoch).partition(":")[2]
        if holder == server:
            return
        await conn.send_command("EVAL", _DROP_EPOCH, 1, key, epoch)
        if await conn.read_response():
            log.warning("router_state_unverified", reason="redis restarted or failed over",
                        epoch_server=holder or "unknown", server=server)

    return on_connect


# ARGV[1] = the key prefix, the rest conversation ids: each still open is added to its channel's index.
_INDEX_BY_CHANNEL = """
local n = 0
for i = 2, #ARGV do
  local cid = ARGV[i]
  if redis.call('SISMEMBER', ARGV[1] .. 'open_all', cid) == 1 then
    local ch = redis.call('HGET', ARGV[1] .. 'conv:' .. cid, 'channel')
    if ch then n = n + redis.call('SADD', ARGV[1] .. 'chopen:' .. ch, cid) end
  end
end
return n
"""


def _decision(raw: str) -> tuple[Any, list[Fact]]:
    """A script's answer: its result and outbox facts, or the refusal it names raised."""
    res = json.loads(raw)
    if "err" in res:
        if res["err"] == "state_lost":
            raise StateLost(res["msg"])
        raise _ERRORS.get(res["err"], Conflict)(res["msg"], field=res.get("field"))
    out = res.get("out") or []
    return res.get("ok"), [(i, body) for i, body in out]


def _attempt(raw: str) -> tuple[Any, list[Fact]] | Exception:
    try:
        return _decision(raw)
    except AppError as exc:  # StateLost too
        return exc


class RouterStore:
    """Atomic routing decisions over Redis.

    Args:
        redis: a client with ``decode_responses=True``.
        prefix: the prefix of every key (``sb:r:``).
    """

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.r = redis
        self.p = prefix
        lib = (LUA / "lib.lua").read_text().replace("__P__", prefix)
        self._scripts = {name: redis.register_script(lib + "\n" + (LUA / f"{name}.lua").read_text())
                         for name in SCRIPTS}
        self._restore = redis.register_script((LUA / "restore.lua").read_text())
        self._seconds = {name: metrics.ROUTER_DECISION_SECONDS.labels(name) for name in SCRIPTS}
        # Outbox entries already on JetStream: deleted by the next decision's script (no round trip of
        # their own), or by flush_published when no decision comes first.
        self._published: list[str] = []

    def key(self, *parts: str) -> str:
        return self.p + ":".join(parts)

    async def run(self, name: str, **args: Any) -> tuple[Any, list[Fact]]:
        """Run one decision script; returns its result and the outbox facts it produced.

        Raises:
            AppError: the rule the script refused on (not found, conflict, forbidden, invalid).
            Transient: Redis is unreachable, or its live state was lost.
        """
        published, self._published = self._published, []
        started = time.perf_counter()
        try:
            raw = await self._scripts[name](args=[self._payload(args, published)])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._published.extend(published)
            raise Transient(f"redis unavailable: {exc}") from exc
        self._seconds[name].observe(time.perf_counter() - started)
        return _decision(raw)

    async def run_many(self, name: str, many: list[dict[str, Any]]) -> list[tuple[Any, list[Fact]] | Exception]:
        """Run one decision script per item of ``many``, in order, pipelined: one round trip for all of them.

        Each decision is as atomic as with ``run``, and sees the ones before it. Returns, per item, what ``run``
        returns or the error it would raise.

        Raises:
            Transient: Redis is unreachable (none of the decisions may be taken as done).
        """
        published, self._published = self._published, []
        script = self._scripts[name]
        pipe = self.r.pipeline(transaction=False)
        for i, args in enumerate(many):
            # EVALSHA without the pipeline's per-call SCRIPT EXISTS: a script Redis lost is loaded below.
            pipe.evalsha(script.sha, 0, self._payload(args, published if i == 0 else []))
        started = time.perf_counter()
        try:
            raws = await pipe.execute(raise_on_error=False)
            out: list[tuple[Any, list[Fact]] | Exception] = []
            for args, raw in zip(many, raws, strict=True):
                if isinstance(raw, NoScriptError):  # not run: Redis restarted or flushed its scripts
                    try:
                        raw = await script(args=[self._payload(args, [])])
                    except ResponseError as exc:
                        raw = exc
                out.append(raw if isinstance(raw, Exception) else _attempt(raw))
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._published.extend(published)
            raise Transient(f"redis unavailable: {exc}") from exc
        elapsed = time.perf_counter() - started
        for _ in many:
            self._seconds[name].observe(elapsed)
        return out

    @staticmethod
    def _payload(args: dict[str, Any], published: list[str]) -> str:
        args.setdefault("now", now_ms())
        if published:
            args["del"] = published
        return json.dumps({k: v for k, v in args.items() if v is not None})

    # ---- epoch: proves the live state is intact -------------------------------------------------------
    async def has_epoch(self) -> bool:
        return bool(await self.r.exists(self.p + "epoch"))

    async def set_epoch(self, lock: tuple[str, str] | None = None) -> bool:
        """Mark the live state complete, as held by this Redis server (see :func:`epoch_guard`); with ``lock``
        (name, token) only while that lock is still ours. Returns whether the epoch was set."""
        server = (await self.r.info("server")).get("run_id", "")
        value = f"{now_ms()}:{server}"
        if lock is None:
            await self.r.set(self.p + "epoch", value)
            return True
        return bool(await self.r.eval(_SET_IF_LOCKED, 2, self.p + "lock:" + lock[0], self.p + "epoch", lock[1],
                                      value))

    async def wipe(self) -> int:
        """Delete every key of the live state but the rebuild lock: what a partial loss left is not trusted."""
        lock = self.p + "lock:rebuild"
        n = 0
        batch: list[str] = []
        async for k in self.r.scan_iter(match=self.p + "*", count=2000):
            if k != lock:
                batch.append(k)
            if len(batch) >= 2000:
                n += await self.r.unlink(*batch)
                batch = []
        if batch:
            n += await self.r.unlink(*batch)
        return n

    async def restore(self, ops: list[list[Any]], chunk: int = 2000) -> None:
        """Write the rebuilt state: ``restore.lua`` operations (keys without the prefix), ``chunk`` per call."""
        for i in range(0, len(ops), chunk):
            batch = [[op[0], self.p + op[1], *op[2:]] for op in ops[i:i + chunk]]
            await self._restore(args=[json.dumps(batch)])

    async def try_lock(self, name: str, ttl_s: float) -> str | None:
        """Take the lock for ``ttl_s``; its token (to renew and release it), or None when another holds it."""
        token = uuid.uuid4().hex
        taken = await self.r.set(self.p + "lock:" + name, token, nx=True, px=int(ttl_s * 1000))
        return token if taken else None

    async def renew_lock(self, name: str, token: str, ttl_s: float) -> bool:
        """Extend the lock if it is still ours (False: it lapsed, or Redis lost it)."""
        return bool(await self.r.eval(_RENEW, 1, self.p + "lock:" + name, token, int(ttl_s * 1000)))

    async def unlock(self, name: str, token: str) -> None:
        await self.r.eval(_RELEASE, 1, self.p + "lock:" + name, token)

    # ---- outbox -------------------------------------------------------------------------------------
    def published(self, ids: list[str]) -> None:
        """Mark outbox entries as published: the next decision (or ``flush_published``) deletes them."""
        self._published.extend(ids)

    async def flush_published(self) -> None:
        ids, self._published = self._published, []
        try:
            if ids:
                await self.r.xdel(self.p + "outbox", *ids)
        except BaseException:
            self._published.extend(ids)
            raise

    async def outbox_until(self, until_ms: int, count: int = 500) -> list[Fact]:
        """The oldest outbox entries written up to ``until_ms``."""
        entries = cast(list[tuple[str, dict[str, str]]],
                       await self.r.xrange(self.p + "outbox", "-", str(until_ms), count=count))
        return [(i, fields["f"]) for i, fields in entries]

    # ---- reads --------------------------------------------------------------------------------------
    async def conversation(self, cid: str) -> dict[str, str] | None:
        h = cast(dict[str, str], await self.r.hgetall(self.key("conv", cid)))
        return h or None

    async def messages(self, cid: str) -> list[dict[str, Any]]:
        return [json.loads(m) for m in await self.r.lrange(self.key("msgs", cid), 0, -1)]

    async def held_count(self, campaign_id: str) -> int:
        """How many conversations of a campaign wait out of hours."""
        return int(await self.r.zcard(self.key("hold", campaign_id)))

    async def sent_seq(self, message_id: str) -> int | None:
        """The ``seq`` of a reply already sent with this message id (a client's retry), if any."""
        seq = await self.r.get(self.key("sent", message_id))
        return None if seq is None else int(seq)

    async def decisions(self, cid: str) -> list[dict[str, Any]]:
        return [json.loads(d) for d in await self.r.lrange(self.key("dec", cid), 0, -1)]

    async def agent(self, aid: str) -> dict[str, str]:
        return cast(dict[str, str], await self.r.hgetall(self.key("agent", aid)))

    async def agent_conversations(self, aid: str) -> list[str]:
        return sorted(cast(set[str], await self.r.smembers(self.key("aconv", aid))))

    async def conversations(self, cids: list[str]) -> list[dict[str, str]]:
        pipe = self.r.pipeline(transaction=False)
        for cid in cids:
            pipe.hgetall(self.key("conv", cid))
        return [h for h in await pipe.execute() if h]

    async def queue(self, campaign_id: str, limit: int = 100) -> dict[str, Any]:
        pipe = self.r.pipeline(transaction=False)
        pipe.zrange(self.key("q", campaign_id), 0, limit - 1)
        pipe.zcard(self.key("q", campaign_id))
        pipe.zrange(self.key("hold", campaign_id), 0, limit - 1)
        pipe.zcard(self.key("hold", campaign_id))
        pipe.hgetall(self.key("stats", campaign_id))
        pipe.smembers(self.key("cmembers", campaign_id))
        pipe.zcard(self.key("avail", campaign_id))
        q, qn, hold, hn, stats, members, avail = await pipe.execute()
        return {"queued": q, "queued_count": qn, "held": hold, "held_count": hn, "stats": stats,
                "members": sorted(members), "available_with_room": avail}

    async def gauges(self, campaign_ids: list[str]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Per campaign: conversations queued, and its agents by presence status (for ``/metrics``)."""
        pipe = self.r.pipeline(transaction=False)
        for cid in campaign_ids:
            pipe.zcard(self.key("q", cid))
            pipe.smembers(self.key("cmembers", cid))
        found = await pipe.execute()
        depth = {cid: int(found[2 * i]) for i, cid in enumerate(campaign_ids)}
        members = {cid: sorted(found[2 * i + 1]) for i, cid in enumerate(campaign_ids)}
        pipe = self.r.pipeline(transaction=False)
        for aids in members.values():
            for aid in aids:
                pipe.hget(self.key("agent", aid), "status")
        statuses = iter(await pipe.execute())
        agents: dict[str, dict[str, int]] = {}
        for cid, aids in members.items():
            counts: dict[str, int] = {}
            for _ in aids:
                status = next(statuses) or "offline"
                counts[status] = counts.get(status, 0) + 1
            agents[cid] = counts
        return depth, agents

    async def index_open_by_channel(self, batch: int = 500) -> int:
        """Add the open conversations to ``chopen:<channel>`` (live state kept by a router from before that
        index: an upgrade). Idempotent; each batch in one script, so a conversation closed meanwhile (no longer
        in ``open_all``) is never added. Returns how many were indexed."""
        added = 0
        cids: list[str] = []
        async for cid in self.r.sscan_iter(self.p + "open_all", count=batch):
            cids.append(cid)
            if len(cids) >= batch:
                added += int(await self.r.eval(_INDEX_BY_CHANNEL, 0, self.p, *cids))
                cids = []
        if cids:
            added += int(await self.r.eval(_INDEX_BY_CHANNEL, 0, self.p, *cids))
        return added

    async def channel_conversations(self, channel_id: str, limit: int = 100) -> tuple[int, list[str]]:
        """How many conversations are open on a channel, and the ids of up to ``limit`` of them."""
        key = self.key("chopen", channel_id)
        count = int(await self.r.scard(key))
        ids = sorted(cast(list[str], await self.r.srandmember(key, limit))) if count else []
        return count, ids

    async def position(self, campaign_id: str, cid: str) -> int | None:
        rank = cast(int | None, await self.r.zrank(self.key("q", campaign_id), cid))
        return None if rank is None else rank + 1

    async def stats(self, campaign_id: str) -> dict[str, str]:
        return cast(dict[str, str], await self.r.hgetall(self.key("stats", campaign_id)))

    async def agents(self, aids: list[str]) -> list[dict[str, str]]:
        pipe = self.r.pipeline(transaction=False)
        for aid in aids:
            pipe.hgetall(self.key("agent", aid))
        return list(await pipe.execute())
