"""Use cases of the gateway: log in, refresh, and act on conversations through the router as the caller."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from libs.core import demo
from libs.core.errors import Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from libs.core.logging import get_logger
from services.gateway.adapters.postgres import UsersRepo
from services.gateway.adapters.redis import LoginLimiter, RefreshLedger
from services.gateway.adapters.upstream import Upstream
from services.gateway.domain import (
    CampaignDirectory,
    Principal,
    can_manage_conversation,
    can_view_conversation,
)
from services.gateway.security import TokenIssuer, hash_password, verify_password

log = get_logger(__name__)

CONVERSATION_ACTIONS = ("accept", "reject", "transfer", "close", "messages")


class BadCredentials(Unauthorized):
    code = "invalid_credentials"


@dataclass
class Upstreams:
    router: Upstream
    campaigns: Upstream
    crm: Upstream
    channels: Upstream


def items_of(body: Any) -> list[dict[str, Any]]:
    """A list answer of another service, whether a bare list or ``{"items"|"conversations": [...]}``."""
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        for key in ("items", "conversations", "data"):
            if isinstance(body.get(key), list):
                return [x for x in body[key] if isinstance(x, dict)]
    return []


def _seg(value: str) -> str:
    return quote(value, safe="")


class Gateway:
    """The gateway's use cases, wired to its adapters by ``app.create_app``."""

    def __init__(
        self,
        *,
        users: UsersRepo,
        tokens: TokenIssuer,
        limiter: LoginLimiter,
        ledger: RefreshLedger,
        upstreams: Upstreams,
        directory: CampaignDirectory,
    ) -> None:
        self.users = users
        self.tokens = tokens
        self.limiter = limiter
        self.ledger = ledger
        self.up = upstreams
        self.directory = directory

    # --- authentication ---------------------------------------------------------------------------

    async def login(self, username: str, password: str, ip: str) -> dict[str, Any]:
        """Check credentials and issue a token pair; failures count against (username, ip)."""
        username = username.strip().lower()
        wait = await self.limiter.blocked_for(username, ip)
        if wait:
            raise RateLimited(
                f"too many failed logins; try again in {wait} s",
                field="username",
                details={"retry_after_s": wait},
            )
        user = await self.users.by_username(username)
        ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
        if user is None or not ok or not user.active:
            await self.limiter.failed(username, ip)
            log.info("login_failed", username=username, ip=ip)
            raise BadCredentials("invalid username or password")
        await self.limiter.succeeded(username, ip)
        log.info("login_succeeded", user_id=user.id)
        return self.tokens.pair(user.principal)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Exchange a refresh token (once) for a new pair; the user must still be active."""
        claims = self.tokens.verify(refresh_token, "refresh")
        user = await self.users.by_id(claims.principal.user_id)
        if user is None or not user.active:
            raise Unauthorized("this user can no longer log in")
        if not await self.ledger.use(claims.jti, self.tokens.refresh_ttl_s):
            raise Unauthorized("this refresh token was already used; log in again")
        return self.tokens.pair(user.principal)

    async def principal(self, access_token: str) -> Principal:
        return self.tokens.verify(access_token, "access").principal

    # --- presence ----------------------------------------------------------------------------------

    async def set_status(self, p: Principal, status: str, reason: str | None) -> Any:
        body = {"status": status, "reason": reason}
        return await self.up.router.request("PUT", f"/agents/{_seg(p.user_id)}/status", json_body=body)

    # --- conversations -----------------------------------------------------------------------------

    async def list_conversations(self, p: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """Agents: their own (plus their campaigns' with "view all cases" and ``scope=all``).
        Supervisors: their campaigns'. Admins: all, or filtered by ``agent_id`` / ``campaign_id``."""
        params = {k: query[k] for k in ("agent_id", "campaign_id", "status") if query.get(k)}
        if p.role == "agent":
            if query.get("scope") == "all":
                shared = {
                    c
                    for c in self.directory.of_agent(p.user_id)
                    if (snap := self.directory.get(c)) and snap.permissions.view_all_cases
                }
                items = await self._by_campaigns(shared, params) if shared else []
                items += items_of(await self.up.router.get("/conversations", {"agent_id": p.user_id}))
                items = list({c.get("id") or c.get("conversation_id"): c for c in items}.values())
            else:
                items = items_of(await self.up.router.get("/conversations", {**params, "agent_id": p.user_id}))
        elif p.role == "supervisor":
            supervised = self.directory.supervised_by(p.user_id)
            wanted = params.get("campaign_id")
            if wanted and wanted not in supervised:
                raise Forbidden(f"you do not supervise campaign {wanted!r}", field="campaign_id")
            items = await self._by_campaigns({wanted} if wanted else supervised, params)
        else:
            items = items_of(await self.up.router.get("/conversations", params))
        return {"items": [c for c in items if can_view_conversation(p, c, self.directory)]}

    async def _by_campaigns(self, campaigns: set[str], params: Mapping[str, str]) -> list[dict[str, Any]]:
        answers = await asyncio.gather(
            *(self.up.router.get("/conversations", {**params, "campaign_id": c}) for c in sorted(campaigns))
        )
        return [c for body in answers for c in items_of(body)]

    async def get_conversation(self, p: Principal, conversation_id: str) -> dict[str, Any]:
        conv = await self.up.router.get(f"/conversations/{_seg(conversation_id)}")
        if not isinstance(conv, dict) or not can_view_conversation(p, conv, self.directory):
            # Not yours reads the same as not there: ids of other agents' cases are not disclosed.
            raise NotFound(f"conversation {conversation_id!r} not found", field="conversation_id")
        return conv

    async def act(self, p: Principal, conversation_id: str, action: str, body: Mapping[str, Any]) -> Any:
        """Forward an agent action to the router as the caller.

        An agent acts as themself (the router checks the conversation is theirs). A supervisor or admin
        acts on behalf of the assigned agent, within the campaigns they may manage.
        """
        if action not in CONVERSATION_ACTIONS:
            raise NotFound(f"unknown action {action!r}")
        agent_id = p.user_id
        conv: dict[str, Any] | None = None
        if p.role != "agent" or action == "close":
            conv = await self.get_conversation(p, conversation_id)
            if p.role != "agent":
                if not can_manage_conversation(p, conv, self.directory):
                    raise Forbidden("you may not act on this conversation")
                agent_id = str(conv.get("agent_id") or p.user_id)
        if action == "close" and conv is not None:
            self._check_closure(conv, body)
        payload = {**body, "agent_id": agent_id}
        if agent_id != p.user_id:
            payload["by_user_id"] = p.user_id
        return await self.up.router.post(f"/conversations/{_seg(conversation_id)}/{action}", payload)

    def _check_closure(self, conv: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        snap = self.directory.get(conv.get("campaign_id"))
        if snap is None:
            return  # the router and the CRM check it against their own snapshot
        fields = body.get("fields") or {}
        problems = snap.closure_problems(body.get("typification_id"), dict(fields))
        if problems:
            field, message = problems[0]
            raise Invalid(message, field=field, details=[{"field": f, "message": m} for f, m in problems])


async def seed_demo_users(users: UsersRepo) -> list[str]:
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
                role=role,
                password_hash=digest,
                if_absent=True,
            )
            is not None
        ):
            created.append(user_id)
    if created:
        log.info("demo_users_seeded", users=created)
    return created
