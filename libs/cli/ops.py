"""Operator commands: ``migrate``, ``dlq list|show|replay``, ``streams`` and ``user``.

They talk to NATS and PostgreSQL directly (``SB_NATS_URL``, ``SB_DATABASE_URL``), the way an operator runs
them with ``kubectl exec`` or as a Kubernetes Job; ``user`` runs the gateway's own command module.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LIB_MIGRATIONS = {"deadletters": ROOT / "libs" / "messaging" / "migrations"}


def migration_sets() -> dict[str, Path]:
    """Every schema ``switchboard migrate`` knows: each service's ``migrations`` folder, then the libraries'."""
    found = {p.parent.name: p for p in sorted((ROOT / "services").glob("*/migrations")) if p.is_dir()}
    return {**found, **LIB_MIGRATIONS}


def add_parsers(sub: Any) -> None:
    """Register the operator commands on the ``switchboard`` parser."""
    sets = sorted(migration_sets())
    mig = sub.add_parser("migrate", help="apply every service's pending migrations (the Kubernetes migration Job)")
    mig.add_argument("--service", action="append", choices=sets, help="only this schema (repeatable)")
    mig.add_argument("--database-url", default=None, help="default: SB_DATABASE_URL")

    dlq = sub.add_parser("dlq", help="dead letters of every service: list, show, replay")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True)
    lst = dsub.add_parser("list", help="newest first")
    lst.add_argument("--stream")
    lst.add_argument("--consumer")
    lst.add_argument("--reason", help="substring of the reason, any case")
    lst.add_argument("--before", type=int, help="only dead letters older than this sequence (to page)")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true")
    show = dsub.add_parser("show", help="one dead letter with its payload")
    show.add_argument("sequence", type=int)
    rep = dsub.add_parser("replay", help="publish dead letters again, for their consumer only; audited")
    rep.add_argument("sequence", type=int, nargs="+")
    rep.add_argument("--actor", default=os.environ.get("SB_OPERATOR") or os.environ.get("USER") or "operator",
                     help="who replays, for the audit (default: $SB_OPERATOR, else $USER)")
    rep.add_argument("--database-url", default=None, help="where the audit is kept (default: SB_DATABASE_URL)")
    for cmd in (lst, show, rep):
        cmd.add_argument("--nats-url", default=None, help="default: SB_NATS_URL")

    streams = sub.add_parser("streams", help="JetStream streams and consumers: messages, lag, replicas")
    streams.add_argument("--nats-url", default=None, help="default: SB_NATS_URL")
    streams.add_argument("--json", action="store_true")

    user = sub.add_parser("user", help="create, reset-password or deactivate a gateway user",
                          add_help=False, prefix_chars="\0")
    user.add_argument("rest", nargs=argparse.REMAINDER)


def _settings() -> Any:
    from libs.core.settings import ServiceSettings

    return ServiceSettings()


async def migrate(args: argparse.Namespace) -> int:
    from libs.storage import create_pool
    from libs.storage import migrate as apply

    url = args.database_url or _settings().database_url
    sets = migration_sets()
    chosen = args.service or list(sets)
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        for name in chosen:
            applied = await apply(pool, name, sets[name])
            print(f"{name}: {', '.join(applied) if applied else 'up to date'}")
    finally:
        await pool.close()
    return 0


async def dlq(args: argparse.Namespace) -> int:
    from libs.core.errors import AppError
    from libs.messaging import deadletters as dl
    from libs.messaging import nats_session

    settings = _settings()
    try:
        async with nats_session(args.nats_url or settings.nats_url, "switchboard-cli", setup=False) as (_, js):
            if args.dlq_command == "list":
                items = await dl.list_dead_letters(js, stream=args.stream, consumer=args.consumer, reason=args.reason,
                                                   before=args.before, limit=args.limit)
                if args.json:
                    print(json.dumps([i.to_dict() for i in items], indent=2))
                else:
                    _table(["sequence", "time", "stream", "consumer", "deliveries", "reason"],
                           [[i.sequence, (i.time or "")[:19], i.stream, i.consumer, i.deliveries, i.reason[:80]]
                            for i in items])
                return 0
            if args.dlq_command == "show":
                print(json.dumps((await dl.get_dead_letter(js, args.sequence)).to_dict(), indent=2,
                                 ensure_ascii=False))
                return 0
            return await _replay(js, args, settings)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


async def _replay(js: Any, args: argparse.Namespace, settings: Any) -> int:
    from libs.core.errors import AppError
    from libs.messaging import deadletters as dl
    from libs.storage import create_pool, migrate

    pool = await create_pool(args.database_url or settings.database_url, min_size=1, max_size=1)
    failed = 0
    try:
        await migrate(pool, dl.MIGRATION_SET, dl.MIGRATIONS)
        audit = dl.ReplayAudit(pool)
        for seq in args.sequence:
            try:
                done = await dl.replay(js, seq)
            except AppError as exc:
                failed += 1
                print(f"{seq}: error: {exc.message}", file=sys.stderr)
                continue
            await audit.record(done, actor=args.actor, via="cli")
            state = "already replayed (duplicate, nothing sent)" if done.duplicate else "replayed"
            print(f"{seq}: {state} to {done.subject} for {done.consumer} (sequence {done.published_sequence})")
    finally:
        await pool.close()
    return 1 if failed else 0


async def streams(args: argparse.Namespace) -> int:
    from libs.messaging import nats_session

    async with nats_session(args.nats_url or _settings().nats_url, "switchboard-cli", setup=False) as (_, js):
        out: list[dict[str, Any]] = []
        for info in sorted(await js.streams_info(), key=lambda s: s.config.name or ""):
            name = info.config.name or ""
            consumers = []
            for c in sorted(await js.consumers_info(name), key=lambda c: c.name or ""):
                consumers.append({"name": c.name, "pending": c.num_pending, "ack_pending": c.num_ack_pending,
                                  "redelivered": c.num_redelivered, "waiting": c.num_waiting,
                                  "replicas": c.config.num_replicas or info.config.num_replicas})
            out.append({"stream": name, "messages": info.state.messages, "bytes": info.state.bytes,
                        "replicas": info.config.num_replicas, "consumers": consumers})
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    rows: list[list[Any]] = []
    for s in out:
        rows.append([s["stream"], "", s["messages"], "", "", s["replicas"]])
        for c in s["consumers"]:
            rows.append(["", c["name"], "", c["pending"], c["ack_pending"], c["replicas"]])
    _table(["stream", "consumer", "messages", "lag (pending)", "unacked", "replicas"], rows)
    return 0


def user(args: argparse.Namespace) -> int:
    """The gateway owns its users: run its command module with the same arguments and environment."""
    done = subprocess.run([sys.executable, "-m", "services.gateway.manage", *args.rest], cwd=ROOT)
    return done.returncode


def _table(head: list[str], rows: list[list[Any]], out: Callable[[str], None] = print) -> None:
    cells = [head, *[[str(x) for x in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    for n, row in enumerate(cells):
        out("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            out("  ".join("-" * w for w in widths))
    if not rows:
        out("(none)")
