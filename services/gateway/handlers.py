"""Use cases of the gateway: log in, refresh, and act on conversations through the router as the caller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import quote

from libs.contracts.campaigns import mask_phone
from libs.core import demo
from libs.core.errors import Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from libs.core.logging import get_logger
from libs.core.validation import is_page
from libs.messaging.snapshots import SnapshotDirectory
from services.gateway.adapters.ports import (
    LoginLimits,
    RefreshTokens,
    Service,
    Sessions,
    UpstreamError,
    UserDirectory,
    UserStore,
)
from services.gateway.domain import (
    Principal,
    Role,
    User,
    can_manage_conversation,
    can_view_conversation,
    shown_to,
    visible_campaigns,
)
from services.gateway.facade import (
    Endpoint,
    Rule,
    agent_filter,
    check_formats,
    foreign_campaign,
    foreign_owners,
    may_see_agent,
    may_see_campaign,
    may_see_item,
    must_own,
)
from services.gateway.security import HashSlots, TokenClaims, TokenIssuer, hash_password, verify_password

log = get_logger(__name__)

CONVERSATION_ACTIONS = ("accept", "reject", "transfer", "close", "messages", "take")
# A transfer's target as the router names it -> as the public API names it.
PUBLIC_TARGETS = {"to_agent_id": "agent_id", "to_campaign_id": "campaign_id"}


class BadCredentials(Unauthorized):
    code = "invalid_credentials"


@dataclass
class Upload:
    """A request body that is not JSON (a file), streamed to the service as it arrives."""

    content_type: str
    chunks: AsyncIterable[bytes]


@dataclass
class Upstreams:
    router: Service
    campaigns: Service
    crm: Service
    channels: Service


def _seg(value: str) -> str:
    return quote(value, safe="")


class Gateway:
    """The gateway's use cases, wired to its adapters by ``app.create_app``."""

    def __init__(
        self,
        *,
        users: UserStore,
        tokens: TokenIssuer,
        limiter: LoginLimits,
        ledger: RefreshTokens,
        upstreams: Upstreams,
        directory: SnapshotDirectory,
        sessions: Sessions,
        hash_slots: HashSlots,
        login_ip_per_minute: int = 120,
        user_directory: UserDirectory | None = None,
    ) -> None:
        self.sessions = sessions
        self.hash_slots = hash_slots
        self.login_ip_per_minute = login_ip_per_minute
        self.users = users
        self.user_directory = user_directory
        self.tokens = tokens
        self.limiter = limiter
        self.ledger = ledger
        self.up = upstreams
        self.directory = directory

    # --- authentication ---------------------------------------------------------------------------

    async def login(self, username: str, password: str, ip: str) -> dict[str, Any]:
        """Check credentials and issue a token pair (a new session family).

        Before any hashing: attempts per client IP in a minute (429), failures per (username, IP) (429), a
        free hashing slot (429 when too many wait). Failures on one account from every IP slow its next
        attempts down (up to 8 s) without locking the account: its owner can still log in.
        """
        username = username.strip().lower()
        if await self.limiter.attempt_from(ip) > self.login_ip_per_minute:
            raise RateLimited("too many login attempts from your address; try again in a minute", field="username",
                              details={"retry_after_s": 60})
        wait = await self.limiter.blocked_for(username, ip)
        if wait:
            raise RateLimited(
                f"too many failed logins; try again in {wait} s",
                field="username",
                details={"retry_after_s": wait},
            )
        over = await self.limiter.account_failures(username) - self.limiter.max_failures
        if over >= 0:
            await asyncio.sleep(min(0.5 * 2**over, 8.0))
        user = await self.users.by_username(username)
        async with self.hash_slots.slot():
            ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
        if user is None or not ok or not user.active:
            await self.limiter.failed(username, ip)
            log.info("login_failed", username=username, ip=ip)
            raise BadCredentials("invalid username or password")
        await self.limiter.succeeded(username, ip)
        log.info("login_succeeded", user_id=user.id)
        return self.tokens.pair(user.principal, version=user.token_version)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Exchange a refresh token (once) for a new pair of the same session; the user must still be active
        and the session alive. A refresh token used twice was stolen or replayed: its whole session ends."""
        claims = self.tokens.verify(refresh_token, "refresh")
        await self.check_session(claims)
        if not await self.ledger.use(claims.jti, self.tokens.refresh_ttl_s):
            await self.sessions.revoke(claims.family, self.tokens.refresh_ttl_s)
            log.warning("refresh_token_reused", user_id=claims.principal.user_id, family=claims.family)
            raise Unauthorized("this refresh token was already used: the session is closed; log in again")
        user = await self.users.by_id(claims.principal.user_id)
        if user is None or not user.active:
            raise Unauthorized("this user can no longer log in")
        return self.tokens.pair(user.principal, family=claims.family, version=user.token_version)

    async def logout(self, claims: TokenClaims) -> None:
        """End the caller's session: its access and refresh tokens stop working at once."""
        await self.sessions.revoke(claims.family, self.tokens.refresh_ttl_s)
        log.info("logged_out", user_id=claims.principal.user_id)

    async def authenticate(self, access_token: str) -> TokenClaims:
        """A valid access token of a live session (every API request and the WebSocket's first message)."""
        claims = self.tokens.verify(access_token, "access")
        await self.check_session(claims)
        return claims

    async def check_session(self, claims: TokenClaims) -> None:
        """One Redis round trip: the session is not revoked, and the token's version is the user's (a
        deactivation, role or password change bumps it). The version is read from PostgreSQL when Redis has
        no copy (kept ``sessions.cache_s``; written at once by the gateway's own changes).

        Raises:
            Unauthorized: the session was closed, or the user changed since the token was issued.
        """
        user_id = claims.principal.user_id
        version, revoked = await self.sessions.state(user_id, claims.family)
        if revoked:
            raise Unauthorized("this session was closed; log in again")
        if version is None:
            state = await self.users.session_state(user_id)
            version = -1 if state is None or not state[1] else state[0]
            await self.sessions.remember_version(user_id, version)
        if version != claims.version:
            raise Unauthorized("your account changed since this token was issued; log in again")

    async def principal(self, access_token: str) -> Principal:
        return (await self.authenticate(access_token)).principal

    # --- presence ----------------------------------------------------------------------------------

    async def set_status(self, p: Principal, status: str, reason: str | None) -> Any:
        body = {"status": status, "reason": reason}
        return await self.up.router.request("PUT", f"/agents/{_seg(p.user_id)}/status", json_body=body, caller=p)

    def check_agent(self, p: Principal, agent_id: str) -> None:
        """Supervisors act on the agents of the campaigns they supervise; admins on anybody.

        Raises:
            Forbidden: naming ``agent_id``.
        """
        if p.role == "agent" or not may_see_agent(p, agent_id, self.directory):
            raise Forbidden(f"agent {agent_id!r} is not in a campaign you supervise", field="agent_id")

    async def set_agent_status(self, p: Principal, agent_id: str, status: str, reason: str | None) -> Any:
        """A supervisor's or admin's change of an agent's state, carried out by the router as the caller."""
        self.check_agent(p, agent_id)
        body = {"status": status, "reason": reason}
        answer = await self.up.router.request("PUT", f"/agents/{_seg(agent_id)}/status", json_body=body, caller=p)
        log.info("agent_status_set_by", agent_id=agent_id, by=p.user_id, status=status)
        return answer

    # --- conversations -----------------------------------------------------------------------------

    async def list_conversations(self, p: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """The open conversations the caller may see.

        The router lists by agent, so: agents get their own (with ``scope=all`` also their colleagues' in
        campaigns that allow viewing all cases); supervisors get those of the agents of the campaigns they
        supervise (or one ``campaign_id``); admins name an ``agent_id`` or a ``campaign_id``.
        """
        wanted = query.get("campaign_id") or None
        if p.role == "agent":
            agents = {p.user_id}
            if query.get("scope") == "all":
                for cid in self.directory.campaigns_of(p.user_id):
                    snap = self.directory.get(cid)
                    if snap is not None and snap.permissions.view_all_cases and (not wanted or wanted == cid):
                        agents.update(snap.agents)
        else:
            if wanted and not (p.is_admin or wanted in self.directory.supervised_by(p.user_id)):
                raise Forbidden(f"you do not supervise campaign {wanted!r}", field="campaign_id")
            campaigns = {wanted} if wanted else (visible_campaigns(p, self.directory) or set())
            agents = self.directory.agents_of(campaigns)
            if query.get("agent_id"):
                agents &= {query["agent_id"]}
                if p.is_admin:
                    agents.add(query["agent_id"])
        answers = await asyncio.gather(
            *(self.up.router.get("/conversations", {"agent_id": a}, caller=p) for a in sorted(agents))
        )
        seen: dict[str, dict[str, Any]] = {}
        for body in answers:  # an agent's open conversations: one page, bounded by their capacity
            for conv in body["items"]:
                seen.setdefault(str(conv.get("id")), conv)
        items = [
            dict(shown_to(p, c, self.directory))
            for c in seen.values()
            if can_view_conversation(p, c, self.directory)
            and (not wanted or c.get("campaign_id") == wanted)
            and (not query.get("status") or c.get("state") == query["status"])
        ]
        return {"items": items, "next_cursor": None}

    async def get_conversation(self, p: Principal, conversation_id: str) -> dict[str, Any]:
        conv = await self.up.router.get(f"/conversations/{_seg(conversation_id)}", caller=p)
        if not isinstance(conv, dict) or not can_view_conversation(p, conv, self.directory):
            # Not yours reads the same as not there: ids of other agents' cases are not disclosed.
            raise NotFound(f"conversation {conversation_id!r} not found", field="conversation_id")
        return dict(shown_to(p, conv, self.directory))

    async def start(self, p: Principal, body: Mapping[str, Any]) -> Any:
        """An agent starts a conversation with a contact, in a campaign of theirs: the router opens it assigned to
        them and sends their message (text, or a WhatsApp template outside the 24-hour window).

        Raises:
            Forbidden: the campaign is not the caller's (``campaign_id``); the router's refusals pass through.
        """
        campaign = str(body["campaign_id"])
        if not may_see_campaign(p, campaign, self.directory):
            raise Forbidden(f"campaign {campaign!r} is not one of yours", field="campaign_id")
        to = await self._unmasked(str(body["to"]), body.get("contact_id"))
        return await self.up.router.post("/conversations", {**body, "to": to, "agent_id": p.user_id}, caller=p)

    async def _unmasked(self, to: str, contact_id: Any) -> str:
        """The number an agent chose as they see it: masked (``+54 9 11 •••• 3456``) where their campaign hides
        numbers, so it is found among the contact's numbers, read as the gateway's own identity and never
        answered to the agent.

        Raises:
            Invalid: a masked number without ``contact_id``, or not one of the contact's (field ``to``).
        """
        if "•" not in to:
            return to
        if not contact_id:
            raise Invalid("a masked number needs the contact_id it belongs to", field="to")
        contact = await self.up.crm.get(f"/contacts/{_seg(str(contact_id))}")
        for entry in (contact or {}).get("phones") or []:
            number = entry.get("number") if isinstance(entry, dict) else None
            if number and mask_phone(number) == to:
                return str(number)
        raise Invalid(f"{to} is not a number of contact {contact_id}", field="to")

    async def act(self, p: Principal, conversation_id: str, action: str, body: Mapping[str, Any]) -> Any:
        """Forward an agent action to the router as the caller.

        An agent acts as themself (the router checks the conversation is theirs). A supervisor or admin
        acts on behalf of the assigned agent, within the campaigns they may manage.
        """
        if action not in CONVERSATION_ACTIONS:
            raise NotFound(f"unknown action {action!r}")
        if action == "take":
            return await self.take(p, conversation_id, body.get("agent_id"))
        agent_id: str | None = p.user_id
        staff = p.role != "agent"
        if staff or action not in ("accept", "reject"):
            conv = await self.get_conversation(p, conversation_id)
            if not can_manage_conversation(p, conv, self.directory):
                raise Forbidden("this conversation is not assigned to you", field="conversation_id")
            if staff:  # on behalf of whoever holds it, if anyone (a waiting, stranded one has nobody)
                agent_id = str(conv["agent_id"]) if conv.get("agent_id") else None
        target = body.get("campaign_id") if action == "transfer" else None
        if staff and target and not may_see_campaign(p, str(target), self.directory):
            raise Forbidden(f"you do not supervise campaign {target!r}", field="campaign_id")
        # What the campaign allows (media, emojis, transfers, the closure) is checked by the router, which
        # carries the action out, with the rules of ``CampaignSnapshot``.
        payload = {k: v for k, v in body.items() if k not in ("agent_id", "campaign_id")}
        if action == "transfer":  # the public names of the target, the router's names
            payload.update({"to_agent_id": body.get("agent_id"), "to_campaign_id": target})
            payload = {k: v for k, v in payload.items() if v is not None}
        if agent_id:
            payload["agent_id"] = agent_id
        if staff:
            payload["by_user_id"] = p.user_id
        try:
            answer = await self.up.router.post(f"/conversations/{_seg(conversation_id)}/{action}", payload, caller=p)
        except UpstreamError as err:
            err.field = PUBLIC_TARGETS.get(err.field or "", err.field) if action == "transfer" else err.field
            raise
        return dict(shown_to(p, answer, self.directory)) if isinstance(answer, dict) else answer

    async def upload_media(self, p: Principal, conversation_id: str, upload: Upload) -> Any:
        """A file for a reply, kept by the CRM in the shared store; answers its media reference.

        Who may: whoever may reply (the agent who holds the conversation, as the router says now; a supervisor
        of its campaign; an admin), in a campaign that allows media. The CRM checks both again, with the type
        and the size, as the file streams through.

        Raises:
            NotFound: not a conversation the caller sees. Forbidden: not theirs to reply to (``conversation_id``),
                or the campaign allows no media (``media``).
        """
        conv = await self.get_conversation(p, conversation_id)
        if not can_manage_conversation(p, conv, self.directory):
            raise Forbidden("this conversation is not assigned to you", field="conversation_id")
        snap = self.directory.get(conv.get("campaign_id"))
        if snap is None or not snap.permissions.media:
            raise Forbidden(f"campaign {conv.get('campaign_id')!r} does not allow media", field="media")
        if not upload.content_type.startswith("multipart/form-data"):  # after the checks: nothing learnt before
            raise Invalid("send the file as a multipart form with a `file` part", field="file")
        _, answer = await self.up.crm.exchange("POST", f"/conversations/{_seg(conversation_id)}/media", caller=p,
                                               data=upload.chunks, content_type=upload.content_type)
        return answer

    async def take(self, p: Principal, conversation_id: str, agent_id: str | None) -> Any:
        """Take a conversation waiting in the queue (``queue_assignment`` off): an agent for themself, from a
        campaign of theirs; a supervisor (of its campaign) or an admin for one of the campaign's agents.

        Raises:
            NotFound: not a conversation of the caller's campaigns. Forbidden: an agent naming someone else.
            Invalid: a supervisor or admin naming no agent.
        """
        # Read as the gateway itself: a waiting conversation is nobody's yet, so the router does not show it to
        # an agent; its campaign decides here, and the router checks the caller's scope again on the take.
        conv = await self.up.router.get(f"/conversations/{_seg(conversation_id)}")
        campaign = conv.get("campaign_id") if isinstance(conv, dict) else None
        if not campaign or not may_see_campaign(p, str(campaign), self.directory):
            raise NotFound(f"conversation {conversation_id!r} not found", field="conversation_id")
        if p.role == "agent":
            if agent_id not in (None, p.user_id):
                raise Forbidden("an agent takes conversations for themself", field="agent_id")
            agent_id = p.user_id
        elif not agent_id:
            raise Invalid("name the agent who takes it", field="agent_id")
        answer = await self.up.router.post(f"/conversations/{_seg(conversation_id)}/take",
                                           {"agent_id": agent_id, "by_user_id": p.user_id}, caller=p)
        return dict(shown_to(p, answer, self.directory)) if isinstance(answer, dict) else answer

    # --- the REST facade over the other services ---------------------------------------------------

    async def proxy(
        self,
        p: Principal,
        rule: Rule,
        endpoint: Endpoint,
        values: Mapping[str, str],
        query: Mapping[str, str],
        body: Any,
        upload: Upload | None = None,
    ) -> tuple[int, Any]:
        """Forward one declared facade endpoint as the caller, after its role check and within the
        caller's scope. ``values`` are the endpoint's decoded placeholders; the service's path is built
        from the declared template and these values, never from the request's path.

        ``upload`` streams a body that is not JSON (a file); a GET answered with a file comes back as an
        open :class:`Download` for the route to stream."""
        method = endpoint.method
        if p.role not in endpoint.roles:
            raise Forbidden(f"a {p.role} may not {method} /{rule.public}/{endpoint.path}".rstrip("/"))
        check_formats(endpoint, values)
        up: Service = getattr(self.up, rule.upstream)
        seg = "" if endpoint.is_view else values[endpoint.parts[0][1:-1]]
        self._check_scope(p, rule, seg, query)
        field = foreign_campaign(p, body, self.directory) if rule.scope != "campaign" else None
        if field is not None:
            raise Forbidden("that campaign is not one of yours", field=field)
        if seg and rule.scope in ("case", "owned") and not p.is_admin:
            item = await up.get(f"/{rule.target}/{_seg(seg)}{rule.item_suffix}", caller=p)
            if not isinstance(item, dict) or not may_see_item(p, rule, item, self.directory):
                raise NotFound(f"{rule.public} {seg!r} not found", field="id")
            if method != "GET" and must_own(p, rule, endpoint, item):
                raise Forbidden(f"only the agent of {rule.public} {seg!r} may do this", field="agent_id")
        params = dict(query)
        if method == "GET" and endpoint.is_view:
            foreign = foreign_owners(p, rule, query, self.directory)
            if foreign:
                raise Forbidden(f"{foreign[0]!r} is not an agent of a campaign you supervise", field=rule.owner_param)
            params.update(agent_filter(p, rule, query, self.directory))
        status, answer = await up.exchange(
            method,
            rule.upstream_path(endpoint, values),
            json_body=body,
            params=params,
            caller=p,
            data=upload.chunks if upload else None,
            content_type=upload.content_type if upload else None,
            downloads=method == "GET",
        )
        if (method == "GET" and endpoint.is_view and is_page(answer) and rule.scope in ("campaign", "case", "owned")
                and not p.is_admin):
            answer = {**answer, "items": [x for x in answer["items"] if may_see_item(p, rule, x, self.directory)]}
        return status, answer

    def _check_scope(self, p: Principal, rule: Rule, seg: str, query: Mapping[str, str] | None = None) -> None:
        if rule.scope == "campaign_query" and not p.is_admin:
            for cid in (x.strip() for x in (query or {}).get("campaign_id", "").split(",")):
                if cid and not may_see_campaign(p, cid, self.directory):
                    raise Forbidden(f"campaign {cid!r} is not one of yours", field="campaign_id")
        if rule.scope in ("campaign", "queue") and seg and not may_see_campaign(p, seg, self.directory):
            raise Forbidden(f"campaign {seg!r} is not one of yours", field="campaign_id")
        if rule.scope == "agent" and not may_see_agent(p, seg, self.directory):
            raise Forbidden(f"agent {seg!r} is not in a campaign you supervise", field="agent_id")

    async def decisions(self, p: Principal, conversation_id: str) -> Any:
        """Why the router routed a conversation as it did: for its campaign's supervisors and admins."""
        if p.role == "agent":
            raise Forbidden("routing decisions are for supervisors and admins")
        conv = await self.get_conversation(p, conversation_id)
        if not can_manage_conversation(p, conv, self.directory):
            raise Forbidden("you do not supervise this conversation's campaign")
        return await self.up.router.get(f"/conversations/{_seg(conversation_id)}/decisions", caller=p)

    # --- the supervisor's dashboard -----------------------------------------------------------------

    async def dashboard(self, p: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """The live state of the caller's campaigns (or the ``campaign_id`` ones): waiting now and the longest
        wait, agents by name with their state, time in state, load and conversations (router), beside today's
        KPIs and series from the durable record (CRM ``/reports/dashboard``)."""
        if p.role == "agent":
            raise Forbidden("the dashboard is for supervisors and admins")
        visible = visible_campaigns(p, self.directory)
        requested = [x.strip() for x in query.get("campaign_id", "").split(",") if x.strip()]
        for cid in requested:
            if visible is not None and cid not in visible:
                raise Forbidden(f"campaign {cid!r} is not one of yours", field="campaign_id")
        campaigns = requested or sorted(visible if visible is not None else (c.id for c in self.directory))
        params = {k: v for k, v in query.items() if k in ("tz", "date")}
        queues, kpis = await asyncio.gather(
            _bounded([self._queue(p, cid) for cid in campaigns]),
            self.up.crm.get("/reports/dashboard", {**params, "campaign_id": ",".join(campaigns)}, caller=p)
            if campaigns else _nothing(),
        )
        agents: dict[str, dict[str, Any]] = {}
        waiting: list[dict[str, Any]] = []
        rows = []
        for cid, q in zip(campaigns, queues, strict=True):
            snap = self.directory.get(cid)
            items = q.get("items") or []
            waiting += [{**i, "campaign_id": cid} for i in items]
            rows.append({"id": cid, "name": snap.name if snap else cid, "waiting": q.get("queued", 0),
                         "longest_wait_s": max((i.get("waiting_s") or 0 for i in items), default=0),
                         "out_of_hours": q.get("out_of_hours", 0), "agents_with_room": q.get("agents_with_room"),
                         "target": {"threshold_s": snap.routing.service_level_threshold_s if snap else 20,
                                    "target_pct": snap.routing.service_level_target_pct if snap else 80},
                         "kpis": (kpis.get("by_campaign") or {}).get(cid) if kpis else None})
            for a in q.get("agents") or []:
                entry = agents.setdefault(a["agent_id"], {**a, "campaigns": []})
                entry["campaigns"].append(cid)
        convs = await _bounded([self.up.router.get("/conversations", {"agent_id": a}, caller=p)
                                for a in sorted(agents)])
        names = await self.users.names(sorted(agents))
        now = time.time()
        for aid, body in zip(sorted(agents), convs, strict=True):
            entry = agents[aid]
            entry["name"] = names.get(aid, aid)
            since = entry.get("since")
            entry["time_in_state_s"] = round(now - datetime.fromisoformat(since).timestamp()) if since else None
            entry["conversations"] = [
                {"id": c.get("id"), "state": c.get("state"), "campaign_id": c.get("campaign_id"), "agent_id": aid,
                 "channel_type": c.get("channel_type"), "contact_name": c.get("contact_name"),
                 "contact_address": c.get("contact_address"), "created_at": c.get("created_at")}
                for c in body.get("items", []) if c.get("campaign_id") in campaigns]
            entry["kpis"] = (kpis.get("by_agent") or {}).get(aid) if kpis else None
        waiting.sort(key=lambda i: -(i.get("waiting_s") or 0))
        return {
            "campaigns": rows,
            "waiting": sum(r["waiting"] for r in rows),
            "longest_wait_s": max((r["longest_wait_s"] for r in rows), default=0),
            "queue": waiting[:200],
            "agents": sorted(agents.values(), key=lambda a: a["name"].lower()),
            "totals": kpis.get("totals") if kpis else None,
            "series": kpis.get("series", []) if kpis else [],
            "date": kpis.get("date") if kpis else None,
            "as_of": kpis.get("as_of") if kpis else None,
        }

    async def _queue(self, p: Principal, campaign_id: str) -> dict[str, Any]:
        try:
            answer = await self.up.router.get(f"/queues/{_seg(campaign_id)}", caller=p)
        except UpstreamError as err:
            if err.status == 404:  # a campaign the router has not seen yet: nothing waits
                return {}
            raise
        return answer if isinstance(answer, dict) else {}

    # --- users -------------------------------------------------------------------------------------

    async def list_users(self, p: Principal, role: str | None, limit: int, after: str | None
                         ) -> list[dict[str, Any]]:
        """A page of users by username, those after ``after``."""
        if p.role == "agent":
            raise Forbidden("only supervisors and admins list users")
        return [u.public() for u in await self.users.list(role, limit=limit, after=after)]

    async def get_user(self, p: Principal, user_id: str) -> dict[str, Any]:
        if p.role == "agent" and user_id != p.user_id:
            raise Forbidden("agents see only themselves", field="id")
        return (await self.users.get(user_id)).public()

    async def create_user(self, p: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
        if not p.is_admin:
            raise Forbidden("only admins create users")
        digest = await asyncio.to_thread(hash_password, str(data["password"]))
        user = await self.users.create(
            id=data["id"],
            username=data["username"],
            role=data["role"],
            display_name=data.get("display_name") or "",
            password_hash=digest,
            email=(data.get("email") or "").lower() or None,
        )
        assert user is not None
        log.info("user_created", user_id=user.id, by=p.user_id)
        await self.announce(user)
        return user.public()

    async def update_user(self, p: Principal, user_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        if not p.is_admin:
            raise Forbidden("only admins change users")
        changes = {k: v for k, v in data.items() if v is not None and k != "password"}
        if "email" in changes:
            changes["email"] = str(changes["email"]).lower()
        if data.get("password"):
            changes["password_hash"] = await asyncio.to_thread(hash_password, str(data["password"]))
        if user_id == p.user_id and (changes.get("active") is False or changes.get("role", "admin") != "admin"):
            raise Invalid("an admin cannot deactivate or demote themself", field="role")
        user = await self.users.update(user_id, changes)
        # At once on every replica: the cached version is replaced (a deactivated user's never matches).
        await self.sessions.remember_version(user.id, user.token_version if user.active else -1)
        log.info("user_updated", user_id=user_id, by=p.user_id, fields=sorted(changes))
        await self.announce(user)
        return user.public()

    async def announce(self, user: User) -> None:
        """Tell the other services a user's name and e-mail (the CRM e-mails transfer notifications); a failed
        put is logged and made again by the next change or start-up (``announce_all``)."""
        if self.user_directory is None:
            return
        try:
            await self.user_directory.put(user)
        except Exception as exc:
            log.warning("user_directory_put_failed", user_id=user.id, error=repr(exc))

    async def announce_all(self) -> int:
        """Every user into the directory (at start-up), page by page."""
        count, after = 0, None
        while page := await self.users.list(limit=500, after=after):
            for user in page:
                await self.announce(user)
            count, after = count + len(page), page[-1].username
        return count


async def _nothing() -> dict[str, Any]:
    return {}


async def seed_demo_users(users: UserStore) -> list[str]:
    """Create the demo users of ``libs/core/demo.py`` that do not exist yet; idempotent."""
    created: list[str] = []
    for user_id, username, password, role in demo.USERS:
        if await users.by_id(user_id) is not None or await users.by_username(username) is not None:
            continue
        digest = await asyncio.to_thread(hash_password, password)
        if (
            await users.create(
                id=user_id,
                username=username,
                display_name=username.capitalize(),
                role=cast(Role, role),
                password_hash=digest,
                if_absent=True,
            )
            is not None
        ):
            created.append(user_id)
    if created:
        log.info("demo_users_seeded", users=created)
    return created


T = TypeVar("T")
FANOUT = 16  # upstream calls of one request in flight at once (an admin's dashboard reads every campaign)


async def _bounded(calls: list[Awaitable[T]], limit: int = FANOUT) -> list[T]:
    """``asyncio.gather`` of ``calls`` in order, at most ``limit`` of them running at once."""
    slots = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with slots:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))
