"""Dead letters of every service for admins: list, payload, replay one or many, and who replayed what.

The DEADLETTER stream holds the dead letters of the whole platform, so the gateway reads it directly through
``libs.messaging.deadletters`` (no service has to be up for its dead letters to be seen). A replay is the one
thing the gateway publishes on NATS; it is recorded in ``ops.dead_letter_replays`` with the admin's id.

Rule: admins only, for every route here (a dead letter's payload may belong to any campaign, so a campaign
scope cannot be checked before reading it): in the gateway's access table, and again in each handler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from libs.core.errors import Forbidden, Invalid
from libs.core.http import query, respond
from libs.core.service import read_json
from libs.core.validation import parse_body
from libs.messaging import JETSTREAM
from libs.messaging import deadletters as dl
from libs.storage import PG_POOL, migrate
from services.gateway.facade import ADMIN
from services.gateway.routes import API, _add, principal
from services.gateway.schemas import DeadLetterReplayIn

AUDIT = web.AppKey("dead_letter_audit", dl.ReplayAudit)


def _admin(request: web.Request) -> str:
    p = principal(request)
    if not p.is_admin:
        raise Forbidden("only admins see and replay dead letters")
    return p.user_id


def _int(request: web.Request, name: str) -> int | None:
    raw = query(request, name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise Invalid(f"{name} must be a positive integer", field=name)
    return int(raw)


async def list_letters(request: web.Request) -> web.Response:
    """``GET /api/v1/dead-letters?stream=&consumer=&reason=&limit=&cursor=``: newest first."""
    _admin(request)
    limit = _int(request, "limit") or 50
    items = await dl.list_dead_letters(request.app[JETSTREAM], stream=query(request, "stream"),
                                       consumer=query(request, "consumer"), reason=query(request, "reason"),
                                       before=_int(request, "cursor"), limit=limit)
    replays = await request.app[AUDIT].counts([i.sequence for i in items])
    return respond({"items": [{**i.to_dict(), "replays": replays.get(i.sequence, 0)} for i in items],
                    "next_cursor": str(items[-1].sequence) if len(items) == limit else None})


async def show_letter(request: web.Request) -> web.Response:
    """``GET /api/v1/dead-letters/{id}``: one dead letter, its payload, and its replays."""
    _admin(request)
    sequence = int(request.match_info["id"])
    letter = await dl.get_dead_letter(request.app[JETSTREAM], sequence)
    history = await request.app[AUDIT].history(sequence=sequence)
    return respond({**letter.to_dict(), "replays": history})


async def replay_letters(request: web.Request) -> web.Response:
    """``POST /api/v1/dead-letters/replay`` ``{"sequences": [...]}``: each replayed for its consumer only, and
    recorded; one that fails (unknown, JetStream away) says why without stopping the others."""
    actor = _admin(request)
    body = parse_body(DeadLetterReplayIn, await read_json(request))
    audit, js = request.app[AUDIT], request.app[JETSTREAM]
    results: list[dict[str, Any]] = []
    for sequence in dict.fromkeys(body.sequences):
        try:
            done = await dl.replay(js, sequence)
        except Exception as exc:  # AppError (not found, no subject, not acknowledged) or worse: one line each
            message = getattr(exc, "message", None) or f"{type(exc).__name__}"
            results.append({"sequence": sequence, "ok": False, "error": message})
            continue
        results.append({"ok": True, **await audit.record(done, actor=actor, via="api")})
    status = 200 if all(r["ok"] for r in results) else 207
    return respond({"results": results}, status=status)


async def replay_history(request: web.Request) -> web.Response:
    """``GET /api/v1/dead-letters/replays?sequence=&actor=&limit=``: the audit, newest first."""
    _admin(request)
    limit = min(_int(request, "limit") or 100, 500)
    items = await request.app[AUDIT].history(sequence=_int(request, "sequence"), actor=query(request, "actor"),
                                             limit=limit)
    return respond({"items": items, "next_cursor": None})


async def _audit_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = app[PG_POOL]
    await migrate(pool, dl.MIGRATION_SET, dl.MIGRATIONS)
    app[AUDIT] = dl.ReplayAudit(pool)
    yield


def setup(app: web.Application) -> None:
    """Routes and the audit table (after the pool's cleanup context)."""
    app.cleanup_ctx.append(_audit_ctx)
    # The access rule (admins) in the gateway's table, checked by the auth middleware; each handler checks again.
    _add(app, "GET", f"{API}/dead-letters", list_letters, ADMIN)
    _add(app, "GET", f"{API}/dead-letters/replays", replay_history, ADMIN)
    _add(app, "POST", f"{API}/dead-letters/replay", replay_letters, ADMIN)
    _add(app, "GET", f"{API}/dead-letters/{{id:\\d{{1,18}}}}", show_letter, ADMIN)
