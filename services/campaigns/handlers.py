"""Use cases of the campaigns service: validated, all-or-nothing writes, then the KV snapshots follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from libs.contracts import Contract, ConversationEvent
from libs.contracts.conversations import CONVERSATION_EVENTS
from libs.core.errors import AppError, Conflict, Invalid
from libs.core.logging import get_logger
from libs.core.validation import parse_body
from services.campaigns.adapters.ports import (
    CLIENTS,
    FIELDS,
    PROJECTS,
    SCHEDULES,
    TYPIFICATIONS,
    CampaignRepository,
    ChannelTaken,
    ChannelTypes,
    SnapshotSink,
    UnitOfWorkFactory,
)
from services.campaigns.domain import Actor, CampaignIn, diff, merge_patch
from services.campaigns.views import (
    ENTITIES,
    PROJECT,
    CampaignViews,
    Entity,
    campaign_spec,
    campaign_view,
    compiled,
    found,
    new_key,
    public,
)

log = get_logger(__name__)


class CampaignsService:
    """Every use case. One transaction per write; snapshots are published after the commit and an
    outbox mark (``published_version``) lets a background loop finish what a failed publish left."""

    def __init__(self, uow: UnitOfWorkFactory, snapshots: SnapshotSink, channels: ChannelTypes) -> None:
        self.uow = uow
        self.snapshots = snapshots
        self.channels = channels
        self.views = CampaignViews(uow)
        self._publish_lock = asyncio.Lock()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[CampaignRepository]:
        async with self.uow() as uow:
            yield uow.repo

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[CampaignRepository]:
        async with self.uow(readonly=True) as uow:
            yield uow.repo

    # ---------------------------------------------------------------------------------- catalog entities

    async def create(self, kind: str, body: Any, actor: Actor) -> dict[str, Any]:
        actor.require_admin()
        e = ENTITIES[kind]
        item = parse_body(e.model, body)
        data = item.model_dump(mode="json")
        key = data.pop(e.table.key, None) or new_key(e.prefix)
        async with self._tx() as repo:
            await self._check_refs(repo, e, data)
            row = await repo.insert(e.table, key, data, actor.user_id)
            await repo.record_change(e.name, key, row["version"], "create", actor.user_id, data)
        return public(e, row)

    async def update(self, kind: str, key: str, body: Any, actor: Actor, *, replace: bool) -> dict[str, Any]:
        """PATCH merges the given top-level fields; PUT replaces the whole entity. Both re-validate it whole."""
        actor.require_admin()
        e = ENTITIES[kind]
        async with self._tx() as repo:
            row = found(await repo.get(e.table, key, for_update=True), e.name, key)
            current = {k: row[k] for k in (e.table.key, *e.table.columns)}
            current = parse_body(e.model, current).model_dump(mode="json")
            if replace and isinstance(body, dict):
                body = {e.table.key: key, **body}
                for f in e.immutable:
                    body.setdefault(f, current.get(f))
            merged = merge_patch(current, body, e.model, e.immutable)
            data = parse_body(e.model, merged).model_dump(mode="json")
            changes = diff(current, data)
            if not changes:
                return public(e, row)
            await self._check_refs(repo, e, data)
            row = await repo.update(e.table, key, data, actor.user_id)
            await repo.record_change(e.name, key, row["version"], "update", actor.user_id, changes)
            bumped = await self._bump_users(repo, e, key, actor, {e.name: {"id": key, "changes": changes}})
        await self.publish(bumped)
        return public(e, row)

    async def delete(self, kind: str, key: str, actor: Actor) -> None:
        actor.require_admin()
        e = ENTITIES[kind]
        async with self._tx() as repo:
            row = found(await repo.get(e.table, key, for_update=True), e.name, key)
            if e.used_as:
                users = await repo.campaigns_using(e.used_as, key)
                if users:
                    raise Conflict(f"{e.name} {key!r} is used by campaign(s) {', '.join(users)}", field="id")
            await repo.delete(e.table, key)
            await repo.record_change(e.name, key, row["version"] + 1, "delete", actor.user_id, {})

    async def _check_refs(self, repo: CampaignRepository, e: Entity, data: dict[str, Any]) -> None:
        if e is PROJECT and not await repo.get(CLIENTS, data["client_id"]):
            raise Invalid(f"client_id: client {data['client_id']!r} does not exist", field="client_id")

    async def _bump_users(self, repo: CampaignRepository, e: Entity, key: str, actor: Actor,
                          why: dict[str, Any]) -> list[str]:
        """A schedule, typification or field changed: campaigns embedding it get a new version."""
        if e.used_as not in ("schedule_id", "typification", "field"):
            return []
        users = await repo.campaigns_using(e.used_as, key)
        versions = await repo.bump(users, actor.user_id)
        for cid, version in versions.items():
            await repo.record_change("campaign", cid, version, f"{e.name}_changed", actor.user_id, why)
        return users

    # ----------------------------------------------------------------------------------------- campaigns

    async def create_campaign(self, body: Any, actor: Actor) -> dict[str, Any]:
        actor.require_admin()
        raw = await self._with_channel_types(body)
        spec = parse_body(CampaignIn, raw)
        cid = spec.id or new_key("cmp")
        spec = spec.model_copy(update={"id": cid})
        data = spec.model_dump(mode="json")
        async with self._tx() as repo:
            await self._check_campaign(repo, cid, spec)
            if await repo.get_campaign(cid):
                raise Conflict(f"id: campaign {cid!r} already exists", field="id")
            try:
                await repo.insert_campaign(cid, data, actor.user_id)
                await repo.replace_children(cid, data, active=spec.status == "active")
            except ChannelTaken as taken:
                raise _channel_field(taken, spec) from taken
            await repo.record_change("campaign", cid, 1, "create", actor.user_id, data)
        await self.publish([cid])
        return await self.views.get_campaign(cid)

    async def update_campaign(self, cid: str, body: Any, actor: Actor, *, replace: bool = False) -> dict[str, Any]:
        actor.require_admin()
        if isinstance(body, dict) and "channels" in body:
            body = await self._with_channel_types(body)
        async with self._tx() as repo:
            row = found(await repo.get_campaign(cid, for_update=True), "campaign", cid)
            if row["status"] == "archived":
                raise Conflict(f"campaign {cid!r} is archived and cannot change", field="status")
            current = await campaign_spec(repo, row)
            if replace:
                if not isinstance(body, dict):
                    raise Invalid("a JSON object is expected", field="body")
                if body.get("id", cid) != cid:
                    raise Invalid("id: cannot change", field="id")
                merged = {"status": current["status"], **body, "id": cid}
            else:
                merged = merge_patch(current, body, CampaignIn)
            spec = parse_body(CampaignIn, merged)
            data = spec.model_dump(mode="json")
            changes = diff(current, data)
            if not changes:
                return await campaign_view(repo, row)
            if row["status"] == "active" and spec.status == "paused":
                await self._check_can_deactivate(repo, cid, spec.agents)
            await self._check_nothing_stranded(repo, cid, current, spec)
            await self._check_campaign(repo, cid, spec)
            try:
                version = await repo.update_campaign(cid, data, actor.user_id)
                await repo.replace_children(cid, data, active=spec.status == "active")
            except ChannelTaken as taken:
                raise _channel_field(taken, spec) from taken
            await repo.record_change("campaign", cid, version, "update", actor.user_id, changes)
        await self.publish([cid])
        return await self.views.get_campaign(cid)

    async def set_campaign_status(self, cid: str, status: str, actor: Actor) -> dict[str, Any]:
        return await self.update_campaign(cid, {"status": status}, actor)

    async def archive_campaign(self, cid: str, actor: Actor) -> dict[str, Any]:
        """DELETE: the campaign is archived (kept for history), its KV key deleted, its channels freed."""
        actor.require_admin()
        async with self._tx() as repo:
            row = found(await repo.get_campaign(cid, for_update=True), "campaign", cid)
            if row["status"] == "archived":
                return await campaign_view(repo, row)
            children = await repo.campaign_children(cid)
            await self._check_can_deactivate(repo, cid, children["agents"])
            version = await repo.set_status(cid, "archived", actor.user_id)
            await repo.record_change("campaign", cid, version, "archive", actor.user_id,
                                     {"status": {"from": row["status"], "to": "archived"}})
            linked_by = await repo.unlink_everywhere(cid)
            versions = await repo.bump(linked_by, actor.user_id)
            for other, v in versions.items():
                await repo.record_change("campaign", other, v, "update", actor.user_id,
                                         {"linked_campaigns": {"removed": cid}})
        await self.publish([cid, *linked_by])
        return await self.views.get_campaign(cid)

    async def _with_channel_types(self, body: Any) -> Any:
        """Fill a channel's missing ``type`` from the channels service's KV bucket."""
        if not isinstance(body, dict) or not isinstance(body.get("channels"), list):
            return body
        channels = []
        for i, ch in enumerate(body["channels"]):
            if isinstance(ch, str):
                ch = {"id": ch}
            if isinstance(ch, dict) and ch.get("id") and not ch.get("type"):
                found = await self.channels.type_of(str(ch["id"]))
                if found is None:
                    raise Invalid(f"channels[{i}].type: channel {ch['id']!r} is not registered with the channels"
                                  " service; give its type", field=f"channels[{i}].type")
                ch = {**ch, "type": found}
            channels.append(ch)
        return {**body, "channels": channels}

    async def _check_campaign(self, repo: CampaignRepository, cid: str, spec: CampaignIn) -> None:
        """References must exist: client, project of that client, schedule, catalogs, linked campaigns."""
        client = await repo.get(CLIENTS, spec.client_id)
        if client is None:
            raise Invalid(f"client_id: client {spec.client_id!r} does not exist", field="client_id")
        project = await repo.get(PROJECTS, spec.project_id)
        if project is None:
            raise Invalid(f"project_id: project {spec.project_id!r} does not exist", field="project_id")
        if project["client_id"] != spec.client_id:
            raise Invalid(f"project_id: project {spec.project_id!r} belongs to client {project['client_id']!r},"
                          f" not {spec.client_id!r}", field="project_id")
        if spec.schedule_id and not await repo.get(SCHEDULES, spec.schedule_id):
            raise Invalid(f"schedule_id: schedule {spec.schedule_id!r} does not exist", field="schedule_id")
        typ_refs = [(f"closing_typifications[{i}]", t) for i, t in enumerate(spec.closing_typifications)]
        typ_refs += [(name, getattr(spec, name)) for name in
                     ("inactivity_typification", "transfer_typification", "ignore_comment_typification")
                     if getattr(spec, name)]
        known = await repo.existing(TYPIFICATIONS, [t for _, t in typ_refs])
        for field, t in typ_refs:
            if t not in known:
                raise Invalid(f"{field}: typification {t!r} does not exist", field=field)
        known = await repo.existing(FIELDS, [f.key for f in spec.custom_fields])
        for i, f in enumerate(spec.custom_fields):
            if f.key not in known:
                raise Invalid(f"custom_fields[{i}].key: field {f.key!r} is not in the field catalog",
                              field=f"custom_fields[{i}].key")
        others = [(f"linked_campaigns[{i}]", c) for i, c in enumerate(spec.linked_campaigns)]
        if spec.routing.overflow_campaign_id:
            others.append(("routing.overflow_campaign_id", spec.routing.overflow_campaign_id))
        statuses = await repo.campaign_statuses([c for _, c in others])
        for field, other in others:
            if other == cid:
                raise Invalid(f"{field}: a campaign cannot refer to itself", field=field)
            if statuses.get(other, "archived") == "archived":
                raise Invalid(f"{field}: campaign {other!r} does not exist or is archived", field=field)
        if spec.status == "active":
            owners = await repo.channel_owners([c.id for c in spec.channels], cid)
            for i, ch in enumerate(spec.channels):
                if ch.id in owners:
                    raise Conflict(f"channel {ch.id!r} already serves active campaign {owners[ch.id]!r}",
                                   field=f"channels[{i}].id")

    async def _check_nothing_stranded(self, repo: CampaignRepository, cid: str, current: dict[str, Any],
                                      spec: CampaignIn) -> None:
        """Issue 13 item 12: nothing open conversations depend on is removed while they are open: an agent who holds
        some stays a member (409 ``agents`` naming the conversations), and no typification they may close with
        leaves the campaign (409 ``closing_typifications`` naming it and how many are open).

        Raises:
            Conflict: with ``details`` naming what depends on what.
        """
        gone_agents = sorted(set(current.get("agents") or []) - set(spec.agents))
        if gone_agents and (held := await repo.open_conversations_of(cid, gone_agents)):
            named = "; ".join(f"{a}: {', '.join(ids)}" for a, ids in held.items())
            raise Conflict(f"agent(s) {', '.join(held)} still hold open conversations of campaign {cid!r} ({named}); "
                           "close or move them first", field="agents", details={"conversations": held})
        used = ("closing_typifications", "inactivity_typification", "transfer_typification")

        def typs(d: dict[str, Any]) -> set[str]:
            out: set[str] = set()
            for name in used:
                value = d.get(name)
                out |= set(value) if isinstance(value, list) else ({value} if value else set())
            return out

        gone = sorted(typs(current) - typs(spec.model_dump()))
        if gone and (count := await repo.open_conversations(cid)):
            raise Conflict(f"campaign {cid!r} has {count} open conversation(s) that may close with "
                           f"{', '.join(gone)}; close them first", field="closing_typifications",
                           details={"typifications": gone, "open_conversations": count})

    async def _check_can_deactivate(self, repo: CampaignRepository, cid: str, agents: list[str]) -> None:
        """Seed 004: no agents assigned and no active conversations."""
        if agents:
            raise Conflict(f"campaign {cid!r} still has agents assigned ({', '.join(agents)}); remove them first",
                           field="agents")
        open_count = await repo.open_conversations(cid)
        if open_count:
            raise Conflict(f"campaign {cid!r} has {open_count} active conversation(s); close them first",
                           field="status")

    # --------------------------------------------------------------------------------------- publishing

    async def publish(self, campaign_ids: list[str]) -> None:
        """Write each campaign's snapshot to the KV bucket (or delete its key when archived); never raises,
        since the write is committed: what fails here is retried by ``publish_pending``."""
        for cid in dict.fromkeys(campaign_ids):
            try:
                await self._publish_one(cid)
            except Exception as exc:
                log.warning("snapshot_publish_failed", campaign_id=cid, error=repr(exc))

    async def _publish_one(self, cid: str) -> None:
        async with self._read() as repo:
            row = await repo.get_campaign(cid)
            if row is None:
                return
            snap = None if row["status"] == "archived" else await compiled(repo, row)
        if snap is None:
            await self.snapshots.delete(cid)
        else:
            await self.snapshots.put(snap)
        async with self.uow() as uow:
            await uow.repo.mark_published(cid, row["version"])
        log.info("snapshot_published", campaign_id=cid, version=row["version"], deleted=snap is None)

    async def publish_pending(self) -> int:
        async with self._publish_lock:
            async with self._read() as repo:
                ids = await repo.unpublished()
            await self.publish(ids)
            return len(ids)

    async def publish_all(self) -> int:
        """Rebuild the bucket from PostgreSQL (on startup)."""
        async with self._publish_lock:
            async with self._read() as repo:
                ids = await repo.all_campaign_ids()
            await self.publish(ids)
            return len(ids)

    async def run_outbox(self, stop: asyncio.Event, interval_s: float) -> None:
        """Publish, every ``interval_s``, what a failed publish left behind."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
            if stop.is_set():
                break
            try:
                await self.publish_pending()
            except Exception as exc:
                log.warning("outbox_round_failed", error=repr(exc))

    # ------------------------------------------------------------------------------------ conversations

    async def track_conversation(self, event: ConversationEvent) -> None:
        """Fold a conversation event into the open-conversation count (deactivation needs it)."""
        async with self.uow() as uow:
            await uow.repo.track_conversation(event.conversation_id, event.campaign_id, event.seq,
                                              closed=event.type == "conversation.closed", agent_id=event.agent_id)


def _channel_field(taken: ChannelTaken, spec: CampaignIn) -> AppError:
    """The channel another campaign took, named by its place in the request."""
    idx = next((i for i, c in enumerate(spec.channels) if c.id == taken.channel_id), 0)
    return Conflict(taken.message, field=f"channels[{idx}].id")


# The use case of each message type the service consumes (registered by ``consumers``): every conversation
# event moves the open-conversation count.
HANDLERS: dict[type[Contract], Callable[[CampaignsService, Any], Awaitable[None]]] = {
    kind: CampaignsService.track_conversation for kind in CONVERSATION_EVENTS
}
