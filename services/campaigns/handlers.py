"""Use cases of the campaigns service: validated, all-or-nothing writes, then the KV snapshots follow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from pydantic import BaseModel

from libs.contracts.campaigns import CampaignSnapshot, Typification
from libs.contracts.schedule import Schedule
from libs.core.errors import AppError, Conflict, Invalid, NotFound
from libs.core.logging import get_logger
from libs.core.validation import decode_cursor, page_of, parse_body
from services.campaigns.adapters.kv import ChannelDirectory, SnapshotStore
from services.campaigns.adapters.postgres import (
    CAMPAIGN_ORDER,
    CLIENTS,
    FIELDS,
    HISTORY_ORDER,
    PROJECTS,
    SCHEDULES,
    TYPIFICATIONS,
    Repository,
    Table,
    channel_in_conflict,
)
from services.campaigns.domain import (
    Actor,
    CampaignIn,
    CampaignQuery,
    ClientIn,
    FieldDef,
    FieldIn,
    ProjectIn,
    ScheduleIn,
    TypificationIn,
    compile_snapshot,
    diff,
    merge_patch,
    typification_label,
)

log = get_logger(__name__)


@dataclass(frozen=True)
class Entity:
    """A catalog entity: its table, input model, id prefix, and how campaigns refer to it."""

    name: str
    table: Table
    model: type[BaseModel]
    prefix: str
    used_as: str | None  # the ``Repository.campaigns_using`` reference, when campaigns embed it
    immutable: tuple[str, ...] = ("id",)


CLIENT = Entity("client", CLIENTS, ClientIn, "cli", "client_id")
PROJECT = Entity("project", PROJECTS, ProjectIn, "prj", "project_id", ("id", "client_id"))
SCHEDULE = Entity("schedule", SCHEDULES, ScheduleIn, "sch", "schedule_id")
TYPIFICATION = Entity("typification", TYPIFICATIONS, TypificationIn, "typ", "typification")
FIELD = Entity("field", FIELDS, FieldIn, "", "field", ("key",))
ENTITIES = {e.name: e for e in (CLIENT, PROJECT, SCHEDULE, TYPIFICATION, FIELD)}


def found(row: dict[str, Any] | None, what: str, key: str) -> dict[str, Any]:
    """The row, or a 404 naming what is missing."""
    if row is None:
        raise NotFound(f"{what} {key!r} does not exist", field="id")
    return row


def new_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _public(entity: Entity, row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("created_by",)}
    if entity is SCHEDULE:
        out = {**out, **Schedule.model_validate(_schedule_data(row)).model_dump(mode="json")}
    return out


def _schedule_data(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "timezone", "always_open", "weekly", "exceptions", "valid_from", "valid_until")
    return {k: row[k] for k in keys}


class CampaignsService:
    """Every use case. One transaction per write; snapshots are published after the commit and an
    outbox mark (``published_version``) lets a background loop finish what a failed publish left."""

    def __init__(self, pool: asyncpg.Pool, snapshots: SnapshotStore, channels: ChannelDirectory) -> None:
        self.pool = pool
        self.snapshots = snapshots
        self.channels = channels
        self._publish_lock = asyncio.Lock()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Repository]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield Repository(conn)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Repository]:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield Repository(conn)

    # ---------------------------------------------------------------------------------- catalog entities

    async def create(self, kind: str, body: Any, actor: Actor) -> dict[str, Any]:
        actor.require_admin()
        e = ENTITIES[kind]
        item = parse_body(e.model, body)
        data = item.model_dump(mode="json")
        key = data.pop(e.table.key, None) or new_key(e.prefix)
        async with self._tx() as repo:
            await self._check_refs(repo, e, data)
            try:
                row = await repo.insert(e.table, key, data, actor.user_id)
            except asyncpg.UniqueViolationError as exc:
                raise _duplicate(e, exc) from exc
            await repo.record_change(e.name, key, row["version"], "create", actor.user_id, data)
        return _public(e, row)

    async def get(self, kind: str, key: str) -> dict[str, Any]:
        e = ENTITIES[kind]
        async with self.pool.acquire() as conn:
            row = found(await Repository(conn).get(e.table, key), e.name, key)
        return _public(e, row)

    async def list_items(self, kind: str, filters: dict[str, Any], limit: int, cursor: str | None
                         ) -> dict[str, Any]:
        """A page of a catalog: ``{"items", "next_cursor"}``."""
        e = ENTITIES[kind]
        after = _after(cursor, e.table.order)
        async with self.pool.acquire() as conn:
            rows = await Repository(conn).rows(e.table, filters, limit, after)
        return _page(rows, limit, lambda r: _public(e, r))

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
                return _public(e, row)
            await self._check_refs(repo, e, data)
            try:
                row = await repo.update(e.table, key, data, actor.user_id)
            except asyncpg.UniqueViolationError as exc:
                raise _duplicate(e, exc) from exc
            await repo.record_change(e.name, key, row["version"], "update", actor.user_id, changes)
            bumped = await self._bump_users(repo, e, key, actor, {e.name: {"id": key, "changes": changes}})
        await self.publish(bumped)
        return _public(e, row)

    async def delete(self, kind: str, key: str, actor: Actor) -> None:
        actor.require_admin()
        e = ENTITIES[kind]
        async with self._tx() as repo:
            row = found(await repo.get(e.table, key, for_update=True), e.name, key)
            if e.used_as:
                users = await repo.campaigns_using(e.used_as, key)
                if users:
                    raise Conflict(f"{e.name} {key!r} is used by campaign(s) {', '.join(users)}", field="id")
            try:
                await repo.delete(e.table, key)
            except asyncpg.ForeignKeyViolationError as exc:
                raise Conflict(f"{e.name} {key!r} is still referenced ({exc.table_name})", field="id") from exc
            await repo.record_change(e.name, key, row["version"] + 1, "delete", actor.user_id, {})

    async def history(self, kind: str, key: str, limit: int = 200, cursor: str | None = None) -> dict[str, Any]:
        """A page of an entity's changes, newest first."""
        after = _after(cursor, HISTORY_ORDER)
        async with self.pool.acquire() as conn:
            rows = await Repository(conn).history(kind, key, limit, after)
        return _page(rows, limit, dict)

    async def _check_refs(self, repo: Repository, e: Entity, data: dict[str, Any]) -> None:
        if e is PROJECT and not await repo.get(CLIENTS, data["client_id"]):
            raise Invalid(f"client_id: client {data['client_id']!r} does not exist", field="client_id")

    async def _bump_users(self, repo: Repository, e: Entity, key: str, actor: Actor,
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
            except asyncpg.UniqueViolationError as exc:
                raise _channel_conflict(exc, spec) from exc
            await repo.record_change("campaign", cid, 1, "create", actor.user_id, data)
        await self.publish([cid])
        return await self.get_campaign(cid)

    async def update_campaign(self, cid: str, body: Any, actor: Actor, *, replace: bool = False) -> dict[str, Any]:
        actor.require_admin()
        if isinstance(body, dict) and "channels" in body:
            body = await self._with_channel_types(body)
        async with self._tx() as repo:
            row = found(await repo.get_campaign(cid, for_update=True), "campaign", cid)
            if row["status"] == "archived":
                raise Conflict(f"campaign {cid!r} is archived and cannot change", field="status")
            current = await self._spec_dict(repo, row)
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
                return await self._campaign_view(repo, row)
            if row["status"] == "active" and spec.status == "paused":
                await self._check_can_deactivate(repo, cid, spec.agents)
            await self._check_campaign(repo, cid, spec)
            try:
                version = await repo.update_campaign(cid, data, actor.user_id)
                await repo.replace_children(cid, data, active=spec.status == "active")
            except asyncpg.UniqueViolationError as exc:
                raise _channel_conflict(exc, spec) from exc
            await repo.record_change("campaign", cid, version, "update", actor.user_id, changes)
        await self.publish([cid])
        return await self.get_campaign(cid)

    async def set_campaign_status(self, cid: str, status: str, actor: Actor) -> dict[str, Any]:
        return await self.update_campaign(cid, {"status": status}, actor)

    async def archive_campaign(self, cid: str, actor: Actor) -> dict[str, Any]:
        """DELETE: the campaign is archived (kept for history), its KV key deleted, its channels freed."""
        actor.require_admin()
        async with self._tx() as repo:
            row = found(await repo.get_campaign(cid, for_update=True), "campaign", cid)
            if row["status"] == "archived":
                return await self._campaign_view(repo, row)
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
        return await self.get_campaign(cid)

    async def get_campaign(self, cid: str) -> dict[str, Any]:
        async with self._read() as repo:
            row = found(await repo.get_campaign(cid), "campaign", cid)
            return await self._campaign_view(repo, row)

    async def list_campaigns(self, query: CampaignQuery, cursor: str | None = None) -> dict[str, Any]:
        """A page of campaigns matching ``query``: ``{"items", "next_cursor"}``."""
        query = replace(query, after=_after(cursor, CAMPAIGN_ORDER))
        async with self._read() as repo:
            ids = await repo.list_campaigns(query)
            views = {}
            for r in ids:
                row = await repo.get_campaign(r["id"])
                if row is not None:
                    views[r["id"]] = await self._campaign_view(repo, row)
        return _page([r for r in ids if r["id"] in views], query.limit, lambda r: views[r["id"]])

    async def snapshot(self, cid: str) -> CampaignSnapshot:
        async with self._read() as repo:
            row = found(await repo.get_campaign(cid), "campaign", cid)
            return await self._compile(repo, row)

    async def _campaign_view(self, repo: Repository, row: dict[str, Any]) -> dict[str, Any]:
        spec = await self._spec_dict(repo, row)
        meta = {k: row[k] for k in ("status", "version", "published_version", "created_at", "updated_at",
                                    "created_by", "updated_by")}
        return {**spec, **meta}

    async def _spec_dict(self, repo: Repository, row: dict[str, Any]) -> dict[str, Any]:
        children = await repo.campaign_children(row["id"])
        base = {k: row[k] for k in ("id", "client_id", "project_id", "name", "schedule_id", "out_of_hours",
                                    "inactivity_typification", "inactivity_timeout_s", "transfer_typification",
                                    "ignore_comment_typification", "permissions", "routing", "case_options",
                                    "script")}
        base["status"] = row["status"] if row["status"] != "archived" else "paused"
        return CampaignIn.model_validate({**base, **children}).model_dump(mode="json")

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

    async def _check_campaign(self, repo: Repository, cid: str, spec: CampaignIn) -> None:
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

    async def _check_can_deactivate(self, repo: Repository, cid: str, agents: list[str]) -> None:
        """Seed 004: no agents assigned and no active conversations."""
        if agents:
            raise Conflict(f"campaign {cid!r} still has agents assigned ({', '.join(agents)}); remove them first",
                           field="agents")
        open_count = await repo.open_conversations(cid)
        if open_count:
            raise Conflict(f"campaign {cid!r} has {open_count} active conversation(s); close them first",
                           field="status")

    async def _compile(self, repo: Repository, row: dict[str, Any]) -> CampaignSnapshot:
        spec = CampaignIn.model_validate(await self._spec_dict(repo, row))
        schedule = None
        if spec.schedule_id:
            srow = await repo.get(SCHEDULES, spec.schedule_id)
            schedule = Schedule.model_validate(_schedule_data(srow)) if srow else None
        typ_ids = [t for t in (*spec.closing_typifications, spec.inactivity_typification,
                               spec.transfer_typification, spec.ignore_comment_typification) if t]
        typs = {t["id"]: Typification(id=t["id"], category=t["category"], subcategory=t["subcategory"],
                                      label=typification_label(t["category"], t["subcategory"], t["label"]))
                for t in await repo.typifications(typ_ids)}
        catalog = {f["key"]: FieldDef.model_validate(f)
                   for f in await repo.fields([f.key for f in spec.custom_fields])}
        return compile_snapshot(spec, campaign_id=row["id"], status=row["status"], version=row["version"],
                                schedule=schedule, typifications=typs, catalog=catalog, channel_types={},
                                updated_at=row["updated_at"], updated_by=row["updated_by"])

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
            snap = None if row["status"] == "archived" else await self._compile(repo, row)
        if snap is None:
            await self.snapshots.delete(cid)
        else:
            await self.snapshots.put(snap)
        async with self.pool.acquire() as conn:
            await Repository(conn).mark_published(cid, row["version"])
        log.info("snapshot_published", campaign_id=cid, version=row["version"], deleted=snap is None)

    async def publish_pending(self) -> int:
        async with self._publish_lock:
            async with self.pool.acquire() as conn:
                ids = await Repository(conn).unpublished()
            await self.publish(ids)
            return len(ids)

    async def publish_all(self) -> int:
        """Rebuild the bucket from PostgreSQL (on startup)."""
        async with self._publish_lock:
            async with self.pool.acquire() as conn:
                ids = await Repository(conn).all_campaign_ids()
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

    async def track_conversation(self, conversation_id: str, campaign_id: str | None, seq: int,
                                 closed: bool) -> None:
        async with self.pool.acquire() as conn:
            await Repository(conn).track_conversation(conversation_id, campaign_id, seq, closed)


def _after(cursor: str | None, order: tuple[tuple[str, str], ...]) -> tuple[str, ...] | None:
    return tuple(decode_cursor(cursor, (str,) * len(order))) if cursor else None


def _page(rows: list[dict[str, Any]], limit: int, public: Callable[[dict[str, Any]], dict[str, Any]]
          ) -> dict[str, Any]:
    """The one list shape; the rows' ``_sort`` values make the cursor and are not shown."""
    page = page_of(rows, limit, lambda r: r["_sort"])
    page["items"] = [public({k: v for k, v in r.items() if k != "_sort"}) for r in page["items"]]
    return page


def _duplicate(e: Entity, exc: asyncpg.UniqueViolationError) -> AppError:
    field = e.table.key if (exc.constraint_name or "").endswith("_pkey") else "name"
    if e is TYPIFICATION and field == "name":
        field = "subcategory"
        return Conflict("subcategory: another typification already has this category and subcategory",
                        field=field)
    return Conflict(f"{field}: another {e.name} already has this {field}", field=field)


def _channel_conflict(exc: asyncpg.UniqueViolationError, spec: CampaignIn) -> AppError:
    channel = channel_in_conflict(exc)
    if channel is None:
        raise exc
    idx = next((i for i, c in enumerate(spec.channels) if c.id == channel), 0)
    return Conflict(f"channel {channel!r} already serves another active campaign", field=f"channels[{idx}].id")
